"""Give every results file written before files had a version (format 0) a version, in place.

Its arrays stay exactly as they were; the fields nobody recorded then (imbacl and torch
versions, commit, CPU, BLAS path, threads) read "unknown": no value is invented. A file that
already has a version is left alone. Usage: python scripts/migrate_results.py [DIR]
(default: results/)."""

import json
import sys
from pathlib import Path

import numpy as np

from imbacl import io

KINDS = {"history": {"steps", "P", "norms"}, "final": {"index", "overrides"}}


def kind_of(files: set) -> str:
    for kind, keys in KINDS.items():
        if keys <= files:
            return kind
    return "record"


def migrate(path: Path) -> bool:
    with np.load(path) as z:
        if "format_version" in z.files:
            return False
        arrays = {k: z[k] for k in z.files}
    kind = kind_of(set(arrays))
    unknown = {k: "unknown" for k in io.PROVENANCE_FIELDS}
    np.savez_compressed(
        path,
        format=np.array(f"imbacl/{kind}"),
        format_version=np.array(io.FORMAT_VERSION),
        imbacl_version=np.array("unknown"),
        provenance=np.array(json.dumps(unknown, sort_keys=True)),
        **arrays,
    )
    print(f"{path}: format 0 -> {io.FORMAT_VERSION} (imbacl/{kind}; provenance unknown)")
    return True


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
    done = sum(migrate(p) for p in sorted(root.rglob("*.npz")))
    print(f"{done} file(s) migrated")
