/* Paperboy's preferences form, made a little friendlier when scripts run. Without this file every field still
   shows and works: the weekly day is simply always visible and the time zone stays as saved. */
(function () {
  "use strict";
  var form = document.querySelector("form.prefs");
  if (!form) { return; }

  // The day of the week applies to weekly digests only.
  var frequency = form.querySelectorAll("input[name=frequency]");
  var weekly = document.getElementById("weekly-day-field");
  function showWeeklyDay() {
    var chosen = form.querySelector("input[name=frequency]:checked");
    if (weekly) { weekly.hidden = !chosen || chosen.value !== "weekly"; }
  }
  for (var i = 0; i < frequency.length; i++) { frequency[i].addEventListener("change", showWeeklyDay); }
  showWeeklyDay();

  // A reader who never chose a zone gets the browser's, shown and saved only if they press Save.
  var zone = document.getElementById("timezone");
  if (!zone || zone.getAttribute("data-guess") !== "browser") { return; }
  var browserZone = "";
  try { browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
  if (!browserZone || browserZone === zone.value) { return; }
  var match = null;
  for (var j = 0; j < zone.options.length; j++) {
    var option = zone.options[j];
    var aliases = (option.getAttribute("data-aliases") || "").split(" ");
    if (option.value === browserZone) { match = option; break; }
    if (!match && aliases.indexOf(browserZone) !== -1) { match = option; }
  }
  if (!match) { return; }
  zone.value = match.value;
  var note = document.getElementById("timezone-guess");
  if (note) {
    note.textContent = "We picked " + match.value + ", your browser's time zone. Save to keep it.";
    note.hidden = false;
  }
})();
