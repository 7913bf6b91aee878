/* Sign-in: post the token, or the user name and password, as JSON (the server admits only JSON
   bodies from this site), then follow "next". */
(function () {
  "use strict";
  var errorBox = document.getElementById("login-error");

  function show(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function wire(form, fields) {
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var payload = { next: form.elements.next.value };
      fields.forEach(function (name) { payload[name] = form.elements[name].value; });
      fetch(form.action, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify(payload)
      }).then(function (res) {
        return res.json().then(function (data) { return { ok: res.ok, data: data }; });
      }).then(function (result) {
        if (result.ok) {
          window.location.assign(result.data.next);
        } else {
          show((result.data.error && result.data.error.message) || "sign-in failed");
        }
      }).catch(function (err) {
        show("sign-in failed: " + err);
      });
    });
  }

  wire(document.getElementById("login-form"), ["token"]);
  wire(document.getElementById("password-form"), ["username", "password"]);
})();
