// A server-sent events reader (the WHATWG event-stream format): fed text chunks,
// calls back with the data of each `message` event. Comments are ignored; the last
// event id and the retry hint are kept, for resuming a stream the server closed.
export class SseReader {
  readonly #onData: (data: string) => void;
  #buffer = '';
  #data: string[] = [];
  #event = '';
  /** The id of the latest event that carried one (what `Last-Event-ID` resumes after). */
  lastEventId: string | undefined;
  /** The server's reconnection delay in milliseconds, when it sent one. */
  retry: number | undefined;

  constructor(onData: (data: string) => void) {
    this.#onData = onData;
  }

  push(chunk: string): void {
    this.#buffer += chunk;
    let newline: number;
    while ((newline = this.#buffer.search(/\r\n|\r|\n/)) !== -1) {
      const line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + (this.#buffer.startsWith('\r\n', newline) ? 2 : 1));
      this.#line(line);
    }
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#data.length > 0 && (this.#event === '' || this.#event === 'message')) this.#onData(this.#data.join('\n'));
      this.#data = [];
      this.#event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.#data.push(value);
    else if (field === 'event') this.#event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }
}
