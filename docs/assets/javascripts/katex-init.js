// Render the math that pymdownx.arithmatex (generic mode) wraps in .arithmatex elements:
// \( ... \) inline and \[ ... \] display. KaTeX and its fonts are served from assets/katex/.
// document$ is Material's page observable, so this also runs after instant navigation.
document$.subscribe(({ body }) => {
  for (const element of body.querySelectorAll(".arithmatex")) {
    renderMathInElement(element, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: true,   // auto-render logs a parse error to the console and keeps the source
    });
  }
});
