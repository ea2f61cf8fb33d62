"""Small moves on Gradio widgets that several browser tests make."""

from __future__ import annotations

# How long a test waits for long work: a background job the app started (a training run, a propagation, an export)
# or a long handler (the Vocabulary tab's head fit). A bound against a hang, never a speed check: on a machine
# loaded by other work a tiny model's step took minutes (issue 29; jobs also run niced below the app).
JOB_WAIT_MS = 600_000


def fill(page, elem_id: str, value: str) -> None:
    """Type into a number or text box and leave it, so Gradio sees the change."""
    box = page.locator(f"#{elem_id} input").first
    box.fill(value)
    box.press("Tab")


def set_number(page, elem_id: str, value: str, tries: int = 5) -> None:
    """Type a number and check it stuck: a box inside an accordion that has just opened can still be re-rendered
    with its old value right after the first fill (seen once on a cold start)."""
    from playwright.sync_api import expect

    box = page.locator(f"#{elem_id} input[type=number]")
    for _ in range(tries):
        box.fill(value)
        box.press("Tab")
        page.wait_for_timeout(300)
        if box.input_value() == value:
            break
    expect(box).to_have_value(value)


def pick(page, elem_id: str, label: str) -> None:
    """Choose one option of a dropdown by its exact label."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(label)
    page.locator(f"#{elem_id}").get_by_role("option", name=label, exact=True).click()
    box.press("Escape")


def shoot(page, path) -> None:
    """A screenshot of the whole page with pop-up messages hidden by a style sheet, not clicked away.

    Clicking a toast's close button raced its auto-dismissal ("element is inert", then "detached from the DOM",
    a 30 s click timeout): the suite failed at random. A style rule cannot race; it is removed afterwards so the
    test can go on with the page as it was.
    """
    style = page.add_style_tag(content=".toast-wrap, .toast-body { display: none !important; }")
    page.mouse.move(0, 0)  # no hover: charts without their toolbar
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    style.evaluate("node => node.remove()")
