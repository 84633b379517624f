"""Reports: the terminal view today; JSON, JUnit, Markdown and HTML later."""
