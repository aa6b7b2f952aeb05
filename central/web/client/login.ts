/**
 * The sign-in page. After signing in it goes to `next` when that is a path of this centre (never another
 * site: a link to the sign-in page must not become a way to send someone elsewhere), else to the floor.
 */
import { $, homeOf, type Session } from './common.js';
import { safeNext } from './next.js';

const form = $('login') as HTMLFormElement;
const message = $('message');
const submit = $('submit') as HTMLButtonElement;

form.addEventListener('submit', (e) => {
  e.preventDefault();
  void signIn();
});

async function signIn(): Promise<void> {
  message.textContent = '';
  submit.disabled = true;
  try {
    const res = await fetch('/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ name: ($('name') as HTMLInputElement).value, password: ($('password') as HTMLInputElement).value }),
    });
    if (res.ok) {
      const { capabilities } = (await res.json()) as Session;
      const next = safeNext(new URLSearchParams(location.search).get('next'), location.origin);
      // The floor is the default, but not every role has one (a QA reviewer starts at the calls).
      location.assign(next === '/' ? homeOf(capabilities) : next);
      return;
    }
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    message.textContent = body.error ?? `Sign-in failed (${res.status}).`;
    ($('password') as HTMLInputElement).value = '';
    ($('password') as HTMLInputElement).focus();
  } catch {
    message.textContent = 'The centre did not answer. Try again.';
  } finally {
    submit.disabled = false;
  }
}
