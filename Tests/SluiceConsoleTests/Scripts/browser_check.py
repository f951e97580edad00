"""Drives the console in headless Chromium (Debian's binary) with Playwright, as an operator would.

Arguments: BASE_URL TOKEN JOB FAILED_ID DIRTY_ID SCREENSHOT CHROMIUM
Prints one JSON line of what it saw; exits 1 with a message when a check fails.
"""
import json
import sys
import time

from playwright.sync_api import sync_playwright


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def main(base, token, job, failed_id, dirty_id, screenshot, chromium):
    seen = {"dialogs": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1500, "height": 820})
        # A loaded test machine (the whole suite runs in parallel on 2 cores) can be slow to answer.
        page.set_default_timeout(90_000)
        page.set_default_navigation_timeout(90_000)
        page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
        console_errors = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

        page.goto(base + "/instances")
        check("/login" in page.url, f"without a session the console sends the browser to /login, not {page.url}")
        page.fill("#token", token)
        page.click("#login")
        page.wait_for_url("**/instances")

        row = page.locator(f'tr[data-id="{failed_id}"]')
        check(row.get_attribute("class") == "failed", "the failed instance's row is marked failed")
        check(row.locator(".status").inner_text() == "failed", "its status reads failed")
        seen["failed_row_color"] = row.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
        check(seen["failed_row_color"] != "rgba(0, 0, 0, 0)", "the failed row is coloured")
        page.screenshot(path=screenshot, full_page=False)

        page.goto(base + f"/instances/{dirty_id}")
        dirty_text = page.locator("#dirty").inner_text()
        check("<script>window.__xss=1</script>" in dirty_text, "the dirty record's markup shows as text")
        check(page.evaluate("typeof window.__xss") == "undefined", "the dirty record's script did not run")

        page.goto(base + f"/instances/{failed_id}")
        check("failed" in page.locator("h1 .status").inner_text(), "the instance page says failed")
        page.click("#rerun")
        page.wait_for_url(f"**/instances/{failed_id}?done=rerun")
        check(page.locator("#notice").is_visible(), "a notice says the rerun started")
        deadline = time.time() + 120
        status = ""
        while time.time() < deadline:
            page.goto(base + f"/instances/{failed_id}")
            status = page.locator("h1 .status").inner_text()
            if status in ("succeeded", "failed") and page.locator("#attempts tbody tr").count() >= 2:
                break
            time.sleep(1)
        check(status == "succeeded", f"the rerun succeeded (status {status})")
        seen["attempts"] = page.locator("#attempts tbody tr").count()
        seen["actions"] = page.locator("#actions").inner_text()

        page.goto(base + f"/jobs/{job}")
        check(page.locator("#next tbody tr").count() == 10, "the job page lists the next 10 instances")
        page.wait_for_selector("#lag tbody tr", timeout=30000)
        seen["lag"] = page.locator("#lag-status").inner_text()
        check("name: hourly" in page.locator("#spec").inner_text(), "the job page shows the resolved spec")

        page.goto(base + f"/jobs/{job}/partitions")
        seen["partitions"] = page.locator("#partitions tbody tr").count()
        check(seen["partitions"] >= 2, "the partitions page lists the written partitions")

        page.goto(base + "/instances")
        check(page.evaluate("typeof window.__xss") == "undefined", "no injected script ran")
        browser.close()
    check(not seen["dialogs"], f"no dialog was opened by injected markup: {seen['dialogs']}")
    seen["console_errors"] = console_errors
    print(json.dumps(seen))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:8])
    except AssertionError as e:
        print(f"check failed: {e}", file=sys.stderr)
        sys.exit(1)
