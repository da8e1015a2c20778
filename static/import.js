// The settings page's import: uploads the chosen file to /api/import with a progress bar, then lists what was skipped.
(() => {
  "use strict";
  const form = document.getElementById("import-form");
  if (!form) return;
  const file = document.getElementById("import-file");
  const folders = document.getElementById("import-folders");
  const publicChoice = document.getElementById("import-public");
  const submit = document.getElementById("import-submit");
  const progress = document.getElementById("import-progress");
  const status = document.getElementById("import-status");
  const problems = document.getElementById("import-problems");

  function say(text) {
    status.textContent = text;
  }

  function report(result) {
    say(`Imported ${result.imported} of ${result.entries} bookmarks: ${result.duplicates} already saved, ${result.skipped} skipped.`);
    problems.replaceChildren(...result.problems.map((problem) => {
      const item = document.createElement("li");
      item.textContent = `line ${problem.line}: ${problem.message}`;
      return item;
    }));
    if (result.problems_total > result.problems.length) {
      const more = document.createElement("li");
      more.textContent = `… and ${result.problems_total - result.problems.length} more`;
      problems.append(more);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    const query = new URLSearchParams({ _csrf: form.dataset.token || "", folders: folders.checked ? "true" : "false", public: publicChoice.checked ? "true" : "false" });
    const request = new XMLHttpRequest();
    request.open("POST", `/api/import?${query}`);
    request.setRequestHeader("Content-Type", "text/html");
    progress.hidden = false;
    progress.value = 0;
    problems.replaceChildren();
    submit.disabled = true;
    say(`Reading ${chosen.name}…`);
    // The server reads the file as it arrives, so the upload's progress is the import's.
    request.upload.addEventListener("progress", (progressEvent) => {
      if (!progressEvent.lengthComputable) return;
      progress.value = Math.round((progressEvent.loaded / progressEvent.total) * 100);
      say(`Reading ${chosen.name}: ${progress.value}%`);
    });
    request.upload.addEventListener("load", () => say("Saving…"));
    request.addEventListener("load", () => {
      submit.disabled = false;
      progress.value = 100;
      let body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = null;
      }
      if (request.status === 200 && body) report(body);
      else say(`The import failed: ${(body && body.error) || `HTTP ${request.status}`}`);
    });
    request.addEventListener("error", () => {
      submit.disabled = false;
      say("The import failed: the connection broke before the file was read; nothing was imported. Try again.");
    });
    request.send(chosen);
  });
})();
