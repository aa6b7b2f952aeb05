/**
 * A value made on first use and kept. The JSON schema validators are made this way: compiling all of them when
 * their modules load cost every `earshot` start about a sixth of a second on a fast x64 core (several times that
 * on an ARM box), also for commands that validate nothing.
 */
export function lazy<T>(make: () => T): () => T {
  let made = false;
  let value: T;
  return () => {
    if (!made) {
      value = make();
      made = true;
    }
    return value;
  };
}
