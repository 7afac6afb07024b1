// Starts Swagger UI on /api/docs (see attendance/api/docs.py). A static file, not an
// inline script, so the page's Content-Security-Policy allows it.
"use strict";

(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    // The public validator would be a request to another origin (and a CSP violation).
    validatorUrl: null,
    ...JSON.parse(root.dataset.config || "{}"),
  });
})();
