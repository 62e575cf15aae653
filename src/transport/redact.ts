/** Query parameters that carry secrets in registries' and object stores' URLs. */
const SECRET_PARAMS = /^(x-amz-signature|x-amz-credential|x-amz-security-token|signature|sig|token|access_token|refresh_token|password|x-goog-signature|x-goog-credential|se|sv|st)$/i;

/** A URL safe to print: user-info removed, secret-looking query values masked. */
export function redactUrl(url: string | URL): string {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    return String(url).replace(/(\w+:\/\/)[^/@\s]+@/g, '$1');
  }
  u.username = '';
  u.password = '';
  for (const key of [...u.searchParams.keys()]) {
    if (SECRET_PARAMS.test(key)) u.searchParams.set(key, '***');
  }
  return u.toString();
}
