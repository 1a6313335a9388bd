
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  var status = document.getElementById("image-check");
  status.setAttribute("data-loaded", String(loaded));
  status.setAttribute("data-broken", String(images.length - loaded));
  status.textContent = "images: " + loaded + " loaded, " + (images.length - loaded) + " broken";
});
