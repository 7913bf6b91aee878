/* Sign-in: post the token as JSON (the server admits only JSON bodies), then follow "next". */
(function () {
  "use strict";
  var form = document.getElementById("login-form");
  if (!form) { return; }
  var errorBox = document.getElementById("login-error");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = JSON.stringify({ token: form.elements.token.value, next: form.elements.next.value });
    fetch(form.action, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      credentials: "same-origin",
      body: body
    }).then(function (res) {
      return res.json().then(function (data) { return { ok: res.ok, data: data }; });
    }).then(function (result) {
      if (result.ok) {
        window.location.assign(result.data.next);
      } else {
        errorBox.textContent = (result.data.error && result.data.error.message) || "sign-in failed";
        errorBox.hidden = false;
      }
    }).catch(function (err) {
      errorBox.textContent = "sign-in failed: " + err;
      errorBox.hidden = false;
    });
  });
})();
