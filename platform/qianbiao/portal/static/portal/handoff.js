// Posts the hand-off form at once; without JavaScript its button does the same.
document.getElementById("handoff").submit();
