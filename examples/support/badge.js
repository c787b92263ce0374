// The examples' connection badge, served at /assets/badge.js: one element that says whether a
// stream is connecting, open, reconnecting (counting down to the next try) or closed, with the
// last error in words. Its data-state attribute is what /assets/look.css colours and the browser
// tests read.
class ConnectionBadge {
  constructor(element) {
    this.element = element;
    this.timer = undefined;
    this.connecting();
  }

  connecting() {
    this.show("connecting", "connecting…");
  }

  open() {
    this.show("open", "open");
  }

  /** Reconnecting in `delayMs`, after `why` (words, or nothing). */
  reconnecting(delayMs, why) {
    const at = Date.now() + delayMs;
    const render = () => {
      const seconds = Math.max(0, Math.ceil((at - Date.now()) / 1000));
      const when = seconds > 0 ? `reconnecting in ${seconds} s` : "reconnecting…";
      this.show("reconnecting", why ? `${when}: ${why}` : when, true);
    };
    render();
    this.timer = setInterval(render, 250);
  }

  /** Closed for good, because of `why` (words, or nothing for a stream that ended). */
  closed(why) {
    this.show(why ? "error" : "closed", why ? `closed: ${why}` : "closed");
  }

  /** Follows an EventSource whose server asks for `retryMs` between tries. */
  watch(source, retryMs) {
    source.addEventListener("open", () => this.open());
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        this.closed("the server refused the stream");
      } else {
        this.reconnecting(retryMs, "the connection was lost");
      }
    });
    return this;
  }

  show(state, text, keepTimer) {
    if (!keepTimer) clearInterval(this.timer);
    this.element.dataset.state = state;
    this.element.textContent = text;
  }
}
window.ConnectionBadge = ConnectionBadge;
