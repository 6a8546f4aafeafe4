/**
 * The forms a credential takes in output besides itself: URL-encoded (an `aws s3 presign` URL
 * carries the secret key's and the session token's `/`, `+` and `=` as %2F, %2B, %3D, in upper
 * or lower case) and JSON-escaped (`\/` for `/`, as PHP and some loggers write it, and `\"`,
 * `\\`, `\uXXXX` for what JSON must escape). The masker conceals every one of them.
 */
export function secretForms(value: string): string[] {
  const forms = new Set([value]);
  const url = encodeURIComponent(value);
  forms.add(url);
  forms.add(url.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()));
  const json = JSON.stringify(value).slice(1, -1);
  forms.add(json);
  forms.add(json.replace(/\//g, "\\/"));
  return [...forms];
}
