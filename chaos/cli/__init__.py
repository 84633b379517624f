"""The command-line interface (Typer): thin commands over the layers below."""
