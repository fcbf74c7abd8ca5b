/* Render a page's saved widgets offline, with the book's own copies of the widget manager and
   MathJax. Loaded between RequireJS (1-require.js) and the manager (3-embed-amd.js), only on
   pages that hold widget state (nb_ipywidgets_js in _config.yml). Two fixes:
   1. The manager finds its fonts next to the URL RequireJS resolved its module ids to (by
      default the page's own folder): map those ids, and its asset path, to _static/widgets/.
   2. The manager typesets widget labels with MathJax 2's MathJax.Hub.Queue; the book runs
      MathJax 3, which has no Hub: give it one that calls MathJax 3's typesetPromise. */
(function () {
  "use strict";
  var base = new URL("./", document.currentScript.src).href;   // _static/widgets/
  window.__jupyter_widgets_assets_path__ = base;
  if (window.require && window.require.config) {
    var dir = base.replace(/\/$/, "");
    window.require.config({
      paths: { "@jupyter-widgets/html-manager/dist": dir, "@jupyter-widgets": dir },
    });
  }

  function typeset(element) {
    var mj = window.MathJax;
    if (!mj || !mj.startup || !mj.startup.promise) return;
    mj.startup.promise
      .then(function () { return mj.typesetPromise(element ? [element] : undefined); })
      .catch(function (err) { console.warn("MathJax could not typeset a widget label", err); });
  }

  function addHub() {
    var mj = window.MathJax;
    if (mj && mj.version && String(mj.version).charAt(0) === "3" && !mj.Hub) {
      mj.Hub = {
        Queue: function () {
          for (var i = 0; i < arguments.length; i++) {
            var job = arguments[i];
            if (Array.isArray(job) && job[0] === "Typeset") typeset(job[2]);
          }
        },
      };
    }
  }

  addHub();
  // MathJax is a deferred script: it has replaced window.MathJax by DOMContentLoaded.
  document.addEventListener("DOMContentLoaded", addHub);
})();
