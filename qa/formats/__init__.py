"""Readers for file formats beyond text, Markdown, HTML, .docx and PDF: one module per format, each
exposing `read(path, data, limits) -> (text, fields)` and registered in `qa.load._READERS`."""
