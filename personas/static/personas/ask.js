// Progressive enhancement for the persona ask page: send the question with fetch and show
// the answer as it streams (server-sent events over a POST response). Without JavaScript the
// form posts normally and the page renders the whole answer.
(function () {
  "use strict";
  var section = document.querySelector(".persona-ask[data-stream-url]");
  if (!section || !window.fetch || !window.TextDecoder) return;
  var form = section.querySelector(".ask-form");
  var log = section.querySelector(".chat-log");
  if (!form || !log) return;
  var personaName = section.dataset.personaName || "";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function renderCitations(item, cited) {
    if (!cited || !cited.length) return;
    var details = el("details", "cited-memories");
    details.open = true;
    details.appendChild(el("summary", "", "Memories used (" + cited.length + ")"));
    var list = el("ol", "memory-citations");
    cited.forEach(function (m) {
      var li = el("li", "memory-citation");
      li.id = "memory-" + m.id;
      li.appendChild(el("span", "citation-label", "[" + m.label + "]"));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("q", "memory-text", m.text));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("span", "score muted small", "score " + Number(m.score).toFixed(2)));
      if (m.permission && m.permission !== "public") {
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("span", "badge badge-" + m.permission, m.permission));
      }
      list.appendChild(li);
    });
    details.appendChild(list);
    item.appendChild(details);
  }

  function parseEvents(buffer, onEvent) {
    var parts = buffer.split("\n\n");
    var rest = parts.pop();
    parts.forEach(function (block) {
      var event = "message", data = "";
      block.split("\n").forEach(function (line) {
        if (line.indexOf("event: ") === 0) event = line.slice(7);
        else if (line.indexOf("data: ") === 0) data += line.slice(6);
      });
      if (data) onEvent(event, JSON.parse(data));
    });
    return rest;
  }

  form.addEventListener("submit", function (e) {
    var textarea = form.querySelector("textarea[name=prompt]");
    var question = textarea.value.trim();
    if (!question) return;
    e.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    var q = el("li", "card chat-message chat-question");
    q.appendChild(el("p", "chat-author label", "You"));
    q.appendChild(el("p", "chat-text", question));
    log.appendChild(q);
    var a = el("li", "card chat-message chat-answer is-streaming");
    var author = el("p", "chat-author label", personaName + " ");
    var badge = el("span", "answer-mode badge", "…");
    author.appendChild(badge);
    a.appendChild(author);
    var text = el("div", "chat-text");
    a.appendChild(text);
    log.appendChild(a);
    textarea.value = "";

    var body = new FormData(form);
    body.set("prompt", question);
    fetch(section.dataset.streamUrl, { method: "POST", body: body, credentials: "same-origin",
                                        headers: { "Accept": "text/event-stream" } })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("text/event-stream") !== 0) {
          return response.json().then(function (err) {
            throw new Error((err && err.error && err.error.message) || "Something went wrong.");
          });
        }
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) return;
            buffer += decoder.decode(chunk.value, { stream: true });
            buffer = parseEvents(buffer, function (event, data) {
              if (event === "meta") {
                badge.textContent = data.mode === "llm" ? data.model : "extractive";
                a.dataset.mode = data.mode;
              } else if (event === "delta") {
                text.textContent += data.text;
              } else if (event === "done") {
                // The server's Markdown rendering, sanitised by nh3 (memories/markdown.py):
                // the same safe HTML the page shows without JavaScript.
                if (typeof data.html === "string") {
                  text.innerHTML = data.html;
                  text.classList.add("chat-markdown");
                } else {
                  text.textContent = data.response;
                }
                if (data.cached) author.appendChild(el("span", "badge", "cached"));
                renderCitations(a, data.cited);
              } else if (event === "error") {
                a.className = "card chat-message chat-error errorlist";
                text.textContent = data.message;
              }
            });
            return pump();
          });
        }
        return pump();
      })
      .catch(function (err) {
        a.className = "card chat-message chat-error errorlist";
        text.textContent = err.message;
      })
      .then(function () {
        a.classList.remove("is-streaming");
        button.disabled = false;
        textarea.focus();
      });
  });
})();
