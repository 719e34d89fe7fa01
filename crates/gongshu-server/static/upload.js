// Upload forms post as usual without this script; with it they show how much of the file
// has gone up. Large government files take minutes on a county's line.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var bar = document.getElementById(form.getAttribute("data-progress"));
      if (!bar || !window.FormData) {
        return;
      }
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      bar.hidden = false;
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round((e.loaded * 100) / e.total);
          bar.textContent = bar.value + "%";
        }
      });
      xhr.addEventListener("load", function () {
        if (xhr.status < 400 && xhr.responseURL) {
          // The server answered with the job's page (after its redirect): go there.
          window.location.assign(xhr.responseURL);
        } else {
          // A refusal is a whole page explaining why: show it.
          document.open();
          document.write(xhr.responseText);
          document.close();
        }
      });
      xhr.addEventListener("error", function () {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        bar.hidden = true;
        window.alert(document.documentElement.lang === "en"
          ? "The upload was interrupted; please try again."
          : "上传中断，请重试。");
      });
      xhr.send(new FormData(form));
    });
  });
});
