# docs snippets
