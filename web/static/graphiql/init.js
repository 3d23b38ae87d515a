// GraphiQL over this hub's POST /graphql, with React, GraphiQL and its stylesheet all served by
// the hub itself (web/static/vendor/). The bearer token is pasted into the bar above the editor
// (or into GraphiQL's Headers tab as an Authorization header). It is kept in this page's memory
// only: it is sent in the Authorization header, never put in a URL, and never stored. In
// development mode on loopback the bar can also fetch a development token for a role.
(function () {
  "use strict";

  var tokenInput = document.getElementById("hub-token");
  var useButton = document.getElementById("hub-use-token");
  var devBar = document.getElementById("hub-dev");
  var roleSelect = document.getElementById("hub-role");
  var scopesBox = document.getElementById("hub-scopes");
  var devButton = document.getElementById("hub-dev-token");
  var status = document.getElementById("hub-status");

  var token = "";

  var DEFAULT_QUERY = [
    "# Paste a bearer token in the bar above (or pick a development role), then run:",
    "{",
    "  me {",
    "    subject",
    "    role",
    "    scopes",
    "    permissions { entity rows hiddenFields canWrite }",
    "  }",
    "}",
    "",
  ].join("\n");

  function say(message, isError) {
    status.textContent = message;
    status.classList.toggle("hub-error", Boolean(isError));
  }

  function hasAuthorization(headers) {
    return Boolean(headers) && Object.keys(headers).some(function (name) {
      return name.toLowerCase() === "authorization";
    });
  }

  // A fetcher for the current token; a new one (and so a fresh introspection of the schema the
  // token's role may see, for the documentation explorer) whenever the token changes.
  function makeFetcher(current) {
    var base = GraphiQL.createFetcher({
      url: "/graphql",
      headers: current ? { Authorization: "Bearer " + current } : {},
    });
    return function (params, options) {
      if (!current && !hasAuthorization(options && options.headers)) {
        return Promise.resolve({
          errors: [
            {
              message:
                "No token yet: paste a bearer token in the bar above, or send an " +
                "Authorization header from the Headers tab.",
            },
          ],
        });
      }
      return base(params, options);
    };
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));

  function render() {
    root.render(
      React.createElement(GraphiQL, {
        fetcher: makeFetcher(token),
        defaultQuery: DEFAULT_QUERY,
        isHeadersEditorEnabled: true,
        shouldPersistHeaders: false,
      })
    );
  }

  function useToken(value, label) {
    token = value.trim().replace(/^Bearer\s+/i, "");
    tokenInput.value = "";
    render();
    say(token ? "Using " + label + "; the schema and its documentation are this token's." : "No token.");
  }

  useButton.addEventListener("click", function () {
    useToken(tokenInput.value, "the pasted token");
  });
  tokenInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
      useToken(tokenInput.value, "the pasted token");
    }
  });

  // Development tokens: the endpoints exist only in development mode and answer only loopback.
  function offerDevelopmentTokens() {
    fetch("/dev/roles", { headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (offer) {
        if (!offer || !Array.isArray(offer.roles)) {
          return;
        }
        offer.roles.forEach(function (role) {
          var option = document.createElement("option");
          option.value = role;
          option.textContent = role;
          roleSelect.appendChild(option);
        });
        (offer.scopes || []).forEach(function (scope) {
          var label = document.createElement("label");
          var box = document.createElement("input");
          box.type = "checkbox";
          box.value = scope;
          label.appendChild(box);
          label.appendChild(document.createTextNode(" " + scope));
          scopesBox.appendChild(label);
        });
        devBar.hidden = false;
      })
      .catch(function () {
        // Not offered: pasting a token still works.
      });
  }

  devButton.addEventListener("click", function () {
    var scopes = Array.prototype.filter
      .call(scopesBox.querySelectorAll("input[type=checkbox]"), function (box) {
        return box.checked;
      })
      .map(function (box) {
        return box.value;
      });
    fetch("/dev/token", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ role: roleSelect.value, scopes: scopes }),
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            throw new Error(body && body.error ? body.error : "HTTP " + response.status);
          }
          return body;
        });
      })
      .then(function (issued) {
        var scopeNote = scopes.length ? " with " + scopes.join(", ") : "";
        useToken(issued.token, "a development token for " + issued.role + scopeNote);
        say(status.textContent + " It expires at " + issued.expiresAt + ".");
      })
      .catch(function (error) {
        say("No development token: " + error.message, true);
      });
  });

  render();
  offerDevelopmentTokens();
})();
