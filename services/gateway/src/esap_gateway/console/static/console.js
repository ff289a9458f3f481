// The console's few behaviours, without a framework: search as you type, live job phases and campaign progress
// (server-sent events), a confirmation before deleting or running again, and a swept parameter's value made
// optional. Every page also works without this script.
"use strict";

function liveSearch(form) {
  const input = form.querySelector("input[type=search]");
  const target = document.getElementById("search-results");
  let timer = null;
  let asked = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const query = input.value;
      const ticket = ++asked;
      const response = await fetch(form.dataset.liveSearch + "?q=" + encodeURIComponent(query),
                                   {credentials: "same-origin"});
      if (ticket !== asked || !response.ok) return;  // a later keystroke already asked again
      target.innerHTML = await response.text();
      history.replaceState(null, "", query ? "/?q=" + encodeURIComponent(query) : "/");
    }, 150);
  });
}

function liveJob(container) {
  const source = new EventSource(container.dataset.events);
  source.addEventListener("job", (event) => {
    const update = JSON.parse(event.data);
    container.innerHTML = update.html;
    document.body.dataset.phase = update.phase;
    if (update.final) source.close();
  });
}

function liveList(table) {
  const source = new EventSource(table.dataset.listEvents);
  source.addEventListener("phase", (event) => {
    const update = JSON.parse(event.data);
    const row = table.querySelector(`tr[data-job-id="${update.job_id}"]`);
    const badge = row && row.querySelector(".phase");
    if (!badge) return;
    badge.textContent = update.phase;
    badge.dataset.phase = update.phase;
    badge.className = "phase phase-" + update.phase.toLowerCase();
    const progress = row.querySelector(".row-progress");
    if (progress && update.progress) progress.innerHTML = update.progress;  // a campaign's counts
  });
  source.addEventListener("end", () => source.close());
}

// A parameter swept needs no value of its own (it is ignored): not required while its sweep box is filled in.
function sweepBox(input) {
  const value = document.getElementById(input.dataset.sweeps);
  if (!value) return;
  const required = value.required;
  const follow = () => {
    const swept = input.value.trim() !== "";
    value.required = required && !swept;
    value.closest(".field").querySelector("label").classList.toggle("swept-value", swept);
  };
  input.addEventListener("input", follow);
  follow();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("input[data-sweeps]").forEach(sweepBox);
  document.querySelectorAll("[data-list-events]").forEach(liveList);
  document.querySelectorAll("form[data-live-search]").forEach(liveSearch);
  document.querySelectorAll("[data-events]").forEach(liveJob);
});

// delegated, so that forms replaced by a live update ask too
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
