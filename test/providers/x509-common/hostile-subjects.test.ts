/**
 * Hostile certificate attributes (issue 11, classes 4 and 6), parsed without
 * any provider policy: OID spellings that used to slip past the name checks,
 * and values built to cost the driver seconds of synchronous work. Every
 * refusal is INVALID_ARGUMENT with a short message that names the attribute.
 */
import { describe, expect, it } from 'vitest';
import { parseCertificateAttributes } from '../../../providers/x509-common/index.js';
import { POD, expectKeymountError } from '../local-ca/helpers.js';

const COMMON_NAME = '2.5.4.3';
const EMAIL_ADDRESS = '1.2.840.113549.1.9.1';
/** Messages go to the pod's events: an excerpt of the input at most, never the whole of it. */
const SHORT_MESSAGE = 400;

function parse(attributes: Record<string, string>): ReturnType<typeof parseCertificateAttributes> {
  return parseCertificateAttributes(attributes, POD);
}

async function refused(attributes: Record<string, string>): Promise<string> {
  const message = (await expectKeymountError(() => parse(attributes), 'INVALID_ARGUMENT')).message;
  expect(message.length).toBeLessThan(SHORT_MESSAGE);
  return message;
}

describe('OIDs in literal-subject', () => {
  it('refuses arcs with leading zeros instead of treating them as an unknown type', async () => {
    for (const subject of ['2.5.4.03=db.shop.svc', '02.5.4.3=db.shop.svc', 'CN=web,2.5.04.10=system:masters', '1.2.840.113549.1.9.01=a@b.example']) {
      const message = await refused({ 'literal-subject': subject });
      expect(message).toContain('attribute "literal-subject"');
      expect(message).toContain('leading zero');
    }
  });

  it('treats a dotted OID that names a known type as that type', () => {
    const parsed = parse({ 'literal-subject': '2.5.4.3=web.shop.svc,2.5.4.10=Example' });
    expect(parsed.commonName).toBe('web.shop.svc');
    expect(parsed.subject).toEqual([[{ type: '2.5.4.10', value: 'Example' }], [{ type: COMMON_NAME, value: 'web.shop.svc' }]]);
  });

  it('counts a CN spelled as an OID: two common names are refused', async () => {
    expect(await refused({ 'literal-subject': 'CN=web.shop.svc,2.5.4.3=db.shop.svc' })).toContain('has 2 CN attributes');
    expect(await refused({ 'literal-subject': 'cn=web.shop.svc+2.5.4.3=db.shop.svc' })).toContain('has 2 CN attributes');
  });

  it('applies the CN rules to a CN spelled as an OID', async () => {
    expect(await refused({ 'literal-subject': `2.5.4.3=${'a'.repeat(65)}` })).toContain('must be 1 to 64 characters');
  });

  it('knows emailAddress by name and by OID, and checks it is an address', async () => {
    const byName = parse({ 'literal-subject': 'emailAddress=Ops@Shop.Example' });
    const byOid = parse({ 'literal-subject': `${EMAIL_ADDRESS}=Ops@Shop.Example` });
    expect(byName.subject).toEqual([[{ type: EMAIL_ADDRESS, value: 'Ops@shop.example' }]]);
    expect(byOid.subject).toEqual(byName.subject);
    expect(await refused({ 'literal-subject': `${EMAIL_ADDRESS}=not an address` })).toContain('is not a valid email address');
  });

  it('refuses an OID with absurdly many or long arcs', async () => {
    expect(await refused({ 'literal-subject': `1.${'2.'.repeat(40)}3=x` })).toContain('attribute "literal-subject"');
    expect(await refused({ 'literal-subject': '1.2.9999999999999999999999999999999999999999=x' })).toContain('attribute "literal-subject"');
  });
});

describe('structure limits', () => {
  it('refuses a 250 KB literal subject of 50,000 "+OU=x" entries at once, with a short message', async () => {
    const hostile = `CN=web${'+OU=x'.repeat(50_000)}`;
    const message = await refused({ 'literal-subject': hostile });
    expect(message).toContain('attribute "literal-subject"');
    expect(message).toContain('over the limit');
    expect(message).not.toContain('+OU=x'.repeat(20));
  });

  it('bounds the number of RDNs, of entries per RDN and of attribute values', async () => {
    const manyRdns = Array.from({ length: 17 }, (_, index) => `OU=u${index}`).join(',');
    expect(await refused({ 'literal-subject': manyRdns })).toMatch(/more than 16 RDNs/);
    expect(await refused({ 'literal-subject': 'OU=a+OU=b+OU=c+OU=d+OU=e' })).toMatch(/more than 4 attributes in one RDN/);
    const manyValues = Array.from({ length: 9 }, (_, index) => `OU=a${index}+OU=b${index}`).join(',');
    expect(await refused({ 'literal-subject': manyValues })).toMatch(/more than 16 attribute values/);
    // What a real subject looks like still parses.
    expect(parse({ 'literal-subject': 'CN=web.shop.svc,OU=Payments+OU=EU,O=Example\\, Inc.,L=Berlin,C=DE' }).subject).toHaveLength(5);
  });

  it('bounds the items of every list attribute before looking at any of them', async () => {
    const lists: readonly [string, string][] = [
      ['dns-names', 'a.shop.svc'],
      ['uri-sans', 'spiffe://cluster.local/x'],
      ['ip-sans', '10.0.0.1'],
      ['email-sans', 'a@shop.example'],
      ['organizations', 'Example'],
      ['key-usages', 'digital signature'],
      ['ext-key-usages', 'server auth'],
    ];
    for (const [attribute, item] of lists) {
      // 50,000 items, some of them malformed: the count is refused first, not the first bad item.
      const hostile = Array.from({ length: 50_000 }, (_, index) => (index === 200 ? '%%%' : item)).join(',');
      const message = await refused({ [attribute]: hostile });
      expect(message).toContain(`attribute "${attribute}"`);
      expect(message).toMatch(/more than \d+ items/);
    }
  });

  it('still accepts a hundred DNS names', () => {
    const names = Array.from({ length: 100 }, (_, index) => `n${index}.shop.svc`).join(',');
    expect(parse({ 'dns-names': names }).dnsNames).toHaveLength(100);
  });

  it('never echoes a long value in full', async () => {
    const long = `${'a'.repeat(200_000)}.shop.svc`;
    const message = await refused({ 'dns-names': long });
    expect(message).toContain('attribute "dns-names"');
    expect(await refused({ 'common-name': 'x'.repeat(200_000) })).toContain('attribute "common-name"');
  });
});
