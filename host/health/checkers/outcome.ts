// What a checker's probe found: success or failure with a reason an operator can act on,
// and for misc_dynamic and FILE_CHECK the weight it gives the server.

export interface Outcome {
  ok: boolean;
  reason: string;
  /** misc_dynamic: the server's weight (exit status - 2), replacing its configured one. */
  weight?: number;
  /** FILE_CHECK: what this checker adds to the server's weight. */
  add?: number;
}

export const failure = (reason: string): Outcome => ({ ok: false, reason });
