// PEM blocks of one label out of a file that may hold several (a chain, a
// bundle, or a cert-manager tls.crt with its issuer appended).

export function pemBlocks(text: string, label: string): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]+?-----END ${label}-----`, "g");
  return [...text.matchAll(re)].map((m) => `${m[0]}\n`);
}
