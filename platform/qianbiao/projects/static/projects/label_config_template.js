// The project form: choosing a task type fills the Label Studio config with that type's
// template, as long as the config is empty or still one of the templates (never over a
// config the PM has written).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.querySelector("select[data-label-config-templates]");
    var config = document.getElementById("id_label_config");
    if (!select || !config) return;
    var templates = JSON.parse(select.getAttribute("data-label-config-templates"));
    var known = Object.keys(templates).map(function (k) { return templates[k].trim(); });
    select.addEventListener("change", function () {
      var current = config.value.trim();
      if (current === "" || known.indexOf(current) !== -1) {
        config.value = templates[select.value] || config.value;
      }
    });
  });
})();
