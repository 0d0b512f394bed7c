//! Progress bars (indicatif), quiet when stderr is not a terminal.
