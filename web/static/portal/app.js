// The portal's script (placeholder until the portal app lands): marks the page as started.
(function () {
  "use strict";
  document.documentElement.dataset.portal = "started";
})();
