"""Small moves on Gradio widgets that several browser tests make."""

from __future__ import annotations


def fill(page, elem_id: str, value: str) -> None:
    """Type into a number or text box and leave it, so Gradio sees the change."""
    box = page.locator(f"#{elem_id} input").first
    box.fill(value)
    box.press("Tab")


def pick(page, elem_id: str, label: str) -> None:
    """Choose one option of a dropdown by its exact label."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(label)
    page.locator(f"#{elem_id}").get_by_role("option", name=label, exact=True).click()
    box.press("Escape")
