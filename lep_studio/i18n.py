"""The app in English and Russian (issue 20): gr.I18n for what the page shows, t() for what handlers write.

- Component texts (labels, info, buttons, tab names, Markdown) are `L("key")`: Gradio's frontend translates them
  in the browser's language, from the tables in lep_studio/locales.py handed to `launch(i18n=translations())`.
- Texts a handler builds at run time (messages, status lines with numbers, chart titles) are `t("key", n=3)`:
  gr.I18n cannot fill in values, so they are translated on the server, in the language of the request (the
  `lep_lang` cookie that HEAD sets, else the browser's Accept-Language).
- Texts built once at start-up from data (the workspace path, the demo recipe's steps) are `both(key, make)`:
  made in each language and added to the tables under their own key.

The language follows the browser; the switch in the header stores the choice in localStorage (HEAD reads it
before Gradio starts and makes it the browser's language for Gradio), so it persists across reloads. Gradio's
own Settings → Language is remembered the same way.
"""

from __future__ import annotations

from typing import Callable

import gradio as gr
from gradio.context import LocalContext
from gradio.i18n import I18nData

from lep_studio.locales import EN, RU

LANGS = {"en": "English", "ru": "Русский"}
COOKIE = "lep_lang"
STORAGE_KEY = "lep-lang"
TABLES = {"en": EN, "ru": RU}
_built: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}  # both(): texts made at start-up

# Runs first in <head>, before Gradio's scripts (see HeadFirst): the stored choice (else the browser's) becomes navigator.language, which
# Gradio reads to pick its locale, and the cookie the server reads for t(). Gradio's Settings → Language sets
# <html lang>: a change to en/ru there is stored too.
HEAD = f"""<script>
(function () {{
  var KEY = "{STORAGE_KEY}", stored = null;
  try {{ stored = localStorage.getItem(KEY); }} catch (e) {{}}
  var browser = (navigator.language || "en").toLowerCase();
  var lang = stored === "ru" || stored === "en" ? stored : (browser.indexOf("ru") === 0 ? "ru" : "en");
  function remember(l) {{
    document.cookie = "{COOKIE}=" + l + "; path=/; SameSite=Lax; max-age=31536000";
    window.__lep_lang = l;
  }}
  remember(lang);
  if (stored) {{
    Object.defineProperty(navigator, "language", {{ get: function () {{ return lang; }} }});
    Object.defineProperty(navigator, "languages", {{ get: function () {{ return [lang]; }} }});
  }}
  new MutationObserver(function () {{
    var l = (document.documentElement.lang || "").slice(0, 2);
    if ((l === "ru" || l === "en") && l !== window.__lep_lang) {{
      try {{ localStorage.setItem(KEY, l); }} catch (e) {{}}
      remember(l);
    }}
  }}).observe(document.documentElement, {{ attributes: true, attributeFilter: ["lang"] }});
}})();
</script>"""

# The header's switch: store the choice and reload, so the page and the server's messages both follow it.
SWITCH_JS = f"(lang) => {{ try {{ localStorage.setItem('{STORAGE_KEY}', lang); }} catch (e) {{}} location.reload(); }}"
CURRENT_JS = "() => window.__lep_lang || 'en'"


class HeadFirst:
    """ASGI middleware: HEAD at the top of every HTML page, so it runs before Gradio reads navigator.language.

    launch(head=...) is no good here: Gradio adds those tags after it has set up its translations."""

    def __init__(self, app, html: str = HEAD) -> None:
        self.app, self.html = app, html.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        start: dict = {}
        chunks: list[bytes] = []

        async def patched(message) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if not headers.get(b"content-type", b"").startswith(b"text/html") or headers.get(b"content-encoding"):
                    start["pass"] = True
                    await send(message)
                else:
                    start["message"] = message
                return
            if start.get("pass"):
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks).replace(b"<head>", b"<head>" + self.html, 1)
            headers = [(k, v) for k, v in start["message"].get("headers") or [] if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start["message"], "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, patched)


def L(key: str) -> I18nData:
    """A component text, translated by the browser; an unknown key fails at start-up, not on screen."""
    if key not in EN and key not in _built["en"]:
        raise KeyError(f"no English text for {key!r} in lep_studio/locales.py")
    return I18nData(key)


def _from_header(accept: str) -> str | None:
    for part in accept.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return None


def current_lang() -> str:
    """The language of the request being handled: the cookie, else Accept-Language, else English."""
    request = LocalContext.request.get(None)
    if request is None:
        return "en"
    try:
        cookie = (request.cookies or {}).get(COOKIE)
        if cookie in LANGS:
            return cookie
        return _from_header((request.headers or {}).get("accept-language", "")) or "en"
    except Exception:  # noqa: BLE001 - a request without headers (API client) reads English
        return "en"


def t(key: str, lang: str | None = None, **values: object) -> str:
    """A run-time text in the request's language (or `lang`), values filled in with str.format."""
    lang = lang if lang in LANGS else current_lang()
    text = TABLES[lang].get(key) or _built[lang].get(key) or EN.get(key) or _built["en"][key]
    return text.format(**values) if values else text


def both(key: str, make: Callable[[str], str]) -> I18nData:
    """A text made at start-up from data, in each language, shown through gr.I18n under `key`."""
    for lang in LANGS:
        _built[lang][key] = make(lang)
    return I18nData(key)


def translations() -> gr.I18n:
    """The tables for launch(i18n=...): the fixed texts and those both() made while the tabs were built."""
    return gr.I18n(**{lang: {**TABLES[lang], **_built[lang]} for lang in LANGS})
