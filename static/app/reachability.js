// Whether the server can be reached. After a request fails for want of an
// answer, a banner says so, and /health (public and cheap) is asked again with
// backoff until the server answers; then the banner goes.

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 8000;

export class Reachability {
  /**
   * @param {object} options
   * @param {HTMLElement} options.banner shown while the server cannot be reached
   * @param {() => void} options.onBack the server answers again
   */
  constructor({ banner, onBack }) {
    this.banner = banner;
    this.onBack = onBack;
    this.offline = false;
    this.timer = null;
  }

  /** Told after each request whether it got an answer (any status counts). */
  report(reachable) {
    if (!reachable && !this.offline) {
      this.offline = true;
      // Put in as it appears, so that screen readers announce it (role="alert").
      this.banner.textContent =
        "The server cannot be reached. The page keeps trying, and this message goes away when it is back.";
      this.banner.classList.add("shown");
      this.retry(0);
    } else if (reachable && this.offline) {
      this.offline = false;
      clearTimeout(this.timer);
      this.banner.textContent = "";
      this.banner.classList.remove("shown");
      this.onBack();
    }
  }

  /** Asks /health; resolves to whether the server answered. */
  async check() {
    try {
      await fetch("/health", { cache: "no-store" });
      this.report(true);
      return true;
    } catch {
      this.report(false);
      return false;
    }
  }

  retry(attempt) {
    clearTimeout(this.timer);
    const delay = Math.min(FIRST_RETRY_MS * 2 ** attempt, MAX_RETRY_MS);
    this.timer = setTimeout(async () => {
      if (this.offline && !(await this.check())) this.retry(attempt + 1);
    }, delay);
  }
}
