// The respondent's page: show and hide questions as the server says (the page's form posts
// its answers on every change; the answer's HX-Trigger names the questions that show). No
// survey logic runs here: crm_web/surveys/logic.py decides.
document.addEventListener("surveyVisibility", function (event) {
  var shown = new Set(event.detail.shown);
  document.querySelectorAll(".survey-form [data-question]").forEach(function (block) {
    block.hidden = !shown.has(block.dataset.question);
  });
});

// After an error, the summary above the form takes the focus, so a screen reader reads it.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.getElementById("survey-errors");
  if (summary) summary.focus();
});
