// Test fixtures made by hooks (a server started in `beforeAll`, a database made in `beforeEach`)
// handed to a `describe` as plain constants: the value stands for whatever the hook made last.

/** A stand-in for the object `current()` returns when used (methods called on that object). */
export function lateBound<T extends object>(current: () => T | undefined, what: string): T {
  const target = (): T => {
    const value = current();
    if (value === undefined) throw new Error(`${what} exists only while the tests of its describe run`);
    return value;
  };
  return new Proxy({} as T, {
    get(_stub, key) {
      const value = target();
      const member: unknown = Reflect.get(value, key);
      return typeof member === "function" ? (member as (...args: unknown[]) => unknown).bind(value) : member;
    },
  });
}
