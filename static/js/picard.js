/* Picard: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";
  function ready(fn) { if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn); }

  // The browser's time zone, for the server to show times in it and to read the expiry
  // entered as local time (picard/timezones.py). Set before the page's forms are used.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var current = (document.cookie.match(/(?:^|; )picard_tz=([^;]*)/) || [])[1];
    if (zone && current !== encodeURIComponent(zone)) {
      document.cookie = "picard_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* no Intl: times stay in UTC, labelled so */ }

  ready(function () {
    // Mobile navigation toggle.
    var toggle = document.querySelector("[data-nav-toggle]");
    var header = document.getElementById("site-header");
    if (toggle && header) {
      toggle.addEventListener("click", function () {
        var open = header.classList.toggle("open");
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
      });
    }

    // Bulk selection: "select all" and a live count of selected memories.
    var selectAll = document.querySelector("[data-select-all]");
    var boxes = Array.prototype.slice.call(document.querySelectorAll("input[name=ids]"));
    var counter = document.querySelector("[data-selected-count]");
    function updateCount() {
      var n = boxes.filter(function (b) { return b.checked; }).length;
      if (counter) counter.textContent = n === 1 ? "1 selected" : n + " selected";
      if (selectAll) selectAll.checked = n > 0 && n === boxes.length;
    }
    if (selectAll) {
      selectAll.addEventListener("change", function () {
        boxes.forEach(function (b) { b.checked = selectAll.checked; });
        updateCount();
      });
    }
    boxes.forEach(function (b) { b.addEventListener("change", updateCount); });
    updateCount();

    // Bulk action: show the tag input only for tag actions.
    var action = document.querySelector("[data-bulk-action]");
    var tagInput = document.querySelector("[data-bulk-tag]");
    function syncAction() {
      if (!action || !tagInput) return;
      var needsTag = /tag/.test(action.value);
      tagInput.hidden = !needsTag;
      tagInput.required = needsTag;
    }
    if (action) { action.addEventListener("change", syncAction); syncAction(); }

    // Share picker: only show the share-with fields when "shared" is chosen.
    var shareBox = document.querySelector("[data-share-with]");
    var permissionInputs = document.querySelectorAll("input[name=permission]");
    function syncShare() {
      if (!shareBox) return;
      var chosen = document.querySelector("input[name=permission]:checked");
      shareBox.hidden = !(chosen && chosen.value === "shared");
    }
    Array.prototype.forEach.call(permissionInputs, function (i) { i.addEventListener("change", syncShare); });
    syncShare();

    // Share picker: suggest usernames while typing (comma-separated list).
    var userInput = document.querySelector("[data-user-lookup]");
    var datalist = document.getElementById("user-suggestions");
    if (userInput && datalist && window.fetch) {
      var timer = null;
      userInput.addEventListener("input", function () {
        clearTimeout(timer);
        var parts = userInput.value.split(",");
        var last = parts[parts.length - 1].trim();
        if (last.length < 2) return;
        timer = setTimeout(function () {
          fetch(userInput.getAttribute("data-user-lookup") + "?q=" + encodeURIComponent(last), { credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.json() : { users: [] }; })
            .then(function (data) {
              datalist.innerHTML = "";
              var prefix = parts.slice(0, -1).map(function (p) { return p.trim(); }).filter(Boolean);
              data.users.forEach(function (u) {
                var opt = document.createElement("option");
                opt.value = prefix.concat([u.username]).join(", ");
                opt.label = u.display_name ? u.display_name + " (" + u.username + ")" : u.username;
                datalist.appendChild(opt);
              });
            }).catch(function () {});
        }, 150);
      });
    }

    // Confirm destructive buttons.
    Array.prototype.forEach.call(document.querySelectorAll("[data-confirm]"), function (el) {
      el.addEventListener("click", function (ev) {
        if (!window.confirm(el.getAttribute("data-confirm"))) ev.preventDefault();
      });
    });

    // Import progress: poll the job's status until it is finished.
    var job = document.querySelector("[data-import-status]");
    if (job && window.fetch) {
      var bar = job.querySelector(".progress > span");
      var label = job.querySelector("[data-progress-label]");
      var poll = function () {
        fetch(job.getAttribute("data-import-status"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
          .then(function (r) { return r.json(); })
          .then(function (s) {
            var pct = s.total ? Math.round(100 * s.position / s.total) : 100;
            if (bar) bar.style.width = pct + "%";
            job.querySelector(".progress").setAttribute("aria-valuenow", String(pct));
            if (label) label.textContent = s.position + " of " + s.total + " rows (" + pct + "%) — " + s.created + " imported, " + s.skipped + " skipped, " + s.failed + " failed";
            if (s.status === "done" || s.status === "failed" || s.status === "cancelled") {
              window.location.reload();
            } else {
              setTimeout(poll, 700);
            }
          }).catch(function () { setTimeout(poll, 2000); });
      };
      setTimeout(poll, 400);
    }

    // Copy buttons: data-copy="<id of the element whose text is copied>".
    Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (!source) return;
        var text = source.value !== undefined ? source.value : source.textContent;
        var done = function () {
          var label = button.textContent;
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = label; }, 1500);
        };
        var selectAndCopy = function () {
          if (source.select) { source.select(); } else {
            var range = document.createRange();
            range.selectNodeContents(source);
            var selection = window.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
          }
          if (document.execCommand("copy")) done();
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text.trim()).then(done, selectAndCopy);
        } else {
          selectAndCopy();
        }
      });
    });
  });
})();
