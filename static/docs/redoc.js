// ReDoc at /redoc (the page comes from rest/docs.py), reading /openapi.json.
"use strict";

// ReDoc always shows an "API docs by Redocly" logo from Redocly's CDN, with no
// option to turn it off. The page's Content-Security-Policy would block it, and
// report so in the console; instead the browser is kept from trying at all: an
// image from another origin gets no source and stays hidden. React sets an
// image's source both ways, as an attribute and then as a property.
function isForeign(url) {
  const parsed = new URL(url, document.baseURI);
  return /^https?:$/.test(parsed.protocol) && parsed.origin !== window.location.origin;
}

const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
Object.defineProperty(HTMLImageElement.prototype, "src", {
  ...src,
  set(value) {
    if (isForeign(value)) {
      this.hidden = true;
    } else {
      src.set.call(this, value);
    }
  },
});

const setAttribute = Element.prototype.setAttribute;
Element.prototype.setAttribute = function (name, value) {
  if (this instanceof HTMLImageElement && name.toLowerCase() === "src" && isForeign(value)) {
    this.hidden = true;
  } else {
    setAttribute.call(this, name, value);
  }
};

Redoc.init("/openapi.json", {}, document.getElementById("redoc"));
