"""The HTML pages of the plugin, one template engine and one stylesheet for all: the error report
(text/report.py) and the translation server's page (serve/). Jinja2 with autoescaping: every
value a template prints is escaped unless the template says otherwise, so a page's structure
can be read in its template and no text of a corpus can become markup."""
from pathlib import Path

HERE = Path(__file__).parent


def render(template, **context):
    """The template's page for ``context``, with the stylesheet (style.css) at hand as ``style``."""
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE), autoescape=True,
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return environment.get_template(template).render(style=(HERE / "style.css").read_text(encoding="utf-8"), **context)
