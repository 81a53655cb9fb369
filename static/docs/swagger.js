// Swagger UI at /docs (the page comes from rest/docs.py), reading /openapi.json.
"use strict";

SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  // The validator badge would send the document to validator.swagger.io.
  validatorUrl: null,
  deepLinking: true,
  // BaseLayout: no top bar with a box for loading another document, so the
  // standalone preset is not needed.
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
