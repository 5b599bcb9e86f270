// Drives the Palisade web console in a real Chromium (Debian's
// /usr/bin/chromium; playwright-core never downloads a browser). Run by
// console_test.go, which starts the server and passes:
//   PALISADE_CONSOLE_URL         e.g. http://127.0.0.1:40123/console/
//   PALISADE_ACCESS_KEY_ID       the admin key (environment only, never argv)
//   PALISADE_ACCESS_KEY_SECRET
// On success it prints one line "RESULT {json}" with the IDs it created.
import { chromium } from 'playwright-core';

const url = process.env.PALISADE_CONSOLE_URL;
const keyId = process.env.PALISADE_ACCESS_KEY_ID;
const secret = process.env.PALISADE_ACCESS_KEY_SECRET;
if (!url || !keyId || !secret) {
  console.error('PALISADE_CONSOLE_URL, PALISADE_ACCESS_KEY_ID and PALISADE_ACCESS_KEY_SECRET must be set');
  process.exit(2);
}

const problems = []; // page errors and CSP violations: the console must have none
const step = (name) => console.log('step: ' + name);
// PALISADE_CONSOLE_SCREENSHOTS=<dir> saves a few pages as PNG (for a look).
const shotDir = process.env.PALISADE_CONSOLE_SCREENSHOTS;
const shot = async (name) => { if (shotDir) await page.screenshot({ path: shotDir + '/' + name + '.png', fullPage: true }); };

function check(cond, msg) {
  if (!cond) throw new Error('check failed: ' + msg);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let page;
try {
  const context = await browser.newContext();
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (err) => problems.push('page error: ' + err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of (4\d\d)/.test(msg.text())) {
      problems.push('console error: ' + msg.text());
    }
  });
  const label = (name) => page.getByLabel(name, { exact: true });
  const button = (name) => page.getByRole('button', { name, exact: true });
  const nav = (name) => page.getByRole('link', { name, exact: true }).click();
  const alert = () => page.locator('main [role="alert"]');
  const status = () => page.locator('main [role="status"]');
  const cell = (text) => page.getByRole('cell', { name: text, exact: true });
  const idFrom = async (prefix) => {
    await status().filter({ hasText: prefix }).waitFor();
    const m = (await status().textContent()).match(new RegExp('\\b(' + prefix + '[A-Za-z0-9-]+)'));
    check(m, 'no ' + prefix + ' ID in status ' + (await status().textContent()));
    return m[1];
  };

  step('login');
  await page.goto(url);
  await label('AccessKey ID').fill(keyId);
  await label('AccessKey secret').fill('wrong-secret');
  await button('Log in').click();
  await page.locator('#login-alert').filter({ hasText: 'InvalidAccessKey' }).waitFor();
  await label('AccessKey secret').fill(secret);
  await button('Log in').click();
  await button('Log out').waitFor();
  check(await page.locator('#whoami').textContent().then((t) => t.includes(keyId)), 'account shown');

  step('create VPC');
  await nav('VPCs');
  await label('CIDR block').fill('10.20.0.0/16');
  await label('VPC name').fill('console-vpc');
  await button('Create VPC').click();
  const vpcId = await idFrom('vpc-');
  await cell('console-vpc').waitFor();
  await cell(vpcId).waitFor();

  step('create vSwitch');
  await nav('vSwitches');
  await label('VPC ID').fill(vpcId);
  await label('CIDR block').fill('10.20.1.0/24');
  await label('vSwitch name').fill('console-vsw');
  await button('Create vSwitch').click();
  const vswId = await idFrom('vsw-');
  await cell('console-vsw').waitFor();

  step('create security group');
  await nav('Security groups');
  await label('VPC ID').fill(vpcId);
  await label('Group name').fill('console-sg');
  await button('Create security group').click();
  const sgId = await idFrom('sg-');
  await cell('console-sg').waitFor();
  await page.getByRole('link', { name: sgId, exact: true }).click();
  await page.getByRole('heading', { name: 'Security group ' + sgId }).waitFor();

  step('authorize ingress rule');
  await label('Direction').selectOption('ingress');
  await label('Protocol').selectOption('TCP');
  await label('Port range').fill('22/22');
  await label('CIDR').fill('10.0.0.0/8');
  await label('Policy').selectOption('accept');
  await label('Priority').fill('1');
  await label('Rule description').fill('ssh from the VPCs');
  await button('Authorize').click();
  await status().filter({ hasText: 'Authorized' }).waitFor();
  const ruleRow = page.getByRole('row').filter({ has: cell('22/22') });
  await ruleRow.waitFor();
  check(await ruleRow.getByRole('cell', { name: '10.0.0.0/8', exact: true }).count() === 1, 'rule lists its CIDR');

  await shot('security-group');
  step('invalid port range shows the API error');
  await label('Port range').fill('90/80');
  await button('Authorize').click();
  await alert().waitFor({ state: 'visible' });
  const errText = await alert().textContent();
  check(/InvalidIpPortRange|InvalidParameter/.test(errText), 'alert has the error code: ' + errText);
  check(errText.includes('90/80'), 'alert has the message: ' + errText);
  check(await page.getByRole('row').filter({ has: cell('90/80') }).count() === 0, 'no rule for the invalid range');

  await shot('invalid-rule');
  step('revoke the rule');
  const ruleId = (await ruleRow.getByRole('cell').first().textContent()).trim();
  check(ruleId.startsWith('sgr-'), 'rule ID ' + ruleId);
  await page.getByRole('button', { name: 'Revoke rule ' + ruleId }).click();
  await status().filter({ hasText: 'Revoked rule ' + ruleId }).waitFor();
  await cell('22/22').waitFor({ state: 'detached' });

  step('run two instances');
  await nav('Instances');
  const instances = [];
  for (const name of ['console-a', 'console-b']) {
    await label('vSwitch ID').fill(vswId);
    await label('Security group ID').fill(sgId);
    await label('Instance name').fill(name);
    await button('Run instance').click();
    await status().filter({ hasText: 'Started instance' }).filter({ hasNotText: instances[0] || '\u0000' }).waitFor();
    instances.push(await idFrom('i-'));
    await cell(name).waitFor();
  }
  check(instances[0] !== instances[1], 'two distinct instances');

  step('network interfaces');
  await nav('Network interfaces');
  await page.getByRole('cell', { name: instances[0], exact: true }).first().waitFor();

  step('can A reach B?');
  await nav('Can A reach B?');
  await label('From (A)').fill(instances[0]);
  await label('To (B)').fill(instances[1]);
  await label('Protocol').selectOption('tcp');
  await label('Port').fill('22');
  await button('Analyze').click();
  await page.locator('#verdict').waitFor();
  const verdict = (await page.locator('#verdict').textContent()).trim();
  check(['reachable', 'unreachable', 'partial'].includes(verdict), 'verdict ' + verdict);
  await page.getByRole('cell', { name: 'sg-ingress', exact: true }).first().waitFor();
  await shot('reach');
  // The same tcp/22 with the rule revoked: a deciding step names the group.
  const trace = await page.locator('#reach-result').textContent();
  check(trace.includes(sgId) || trace.includes('sg-ingress'), 'the trace names the deciding group');
  // An API error is shown with its code.
  await label('From (A)').fill('i-doesnotexist');
  await button('Analyze').click();
  await alert().waitFor({ state: 'visible' });
  const reachErr = await alert().textContent();
  check(/NotFound|Invalid/.test(reachErr), 'reachability error shown: ' + reachErr);

  step('other views render');
  for (const [link, heading] of [['Network ACLs', 'Network ACLs'], ['EIPs', 'EIPs'], ['Flow logs', 'Flow logs'],
    ['WAF logs', 'WAF logs'], ['Anti-DDoS events', 'Anti-DDoS events'], ['Cloud Firewall policies', 'Cloud Firewall control policies']]) {
    await nav(link);
    await page.getByRole('heading', { name: heading, exact: true }).waitFor();
    await page.locator('main table, main p.muted').first().waitFor();
    check(await alert().isHidden(), link + ' shows an error: ' + (await alert().textContent()));
  }
  // Anti-DDoS events of an EIP that does not exist: the API's error.
  await nav('Anti-DDoS events');
  await label('Instance type').selectOption('eip');
  await label('Instance ID').fill('eip-doesnotexist');
  await button('Show events').click();
  await alert().waitFor({ state: 'visible' });
  check(/\S+: \S/.test(await alert().textContent()), 'DDoS error shown: ' + (await alert().textContent()));

  step('logout');
  await button('Log out').click();
  await label('AccessKey ID').waitFor();
  await page.reload();
  await label('AccessKey ID').waitFor();
  check(await page.locator('#app-view').isHidden(), 'after reload the app stays hidden');

  check(problems.length === 0, 'page problems:\n' + problems.join('\n'));
  console.log('RESULT ' + JSON.stringify({ VpcId: vpcId, VSwitchId: vswId, SecurityGroupId: sgId, Instances: instances, Verdict: verdict }));
} catch (err) {
  console.error('FAILED: ' + (err && err.stack ? err.stack : err));
  if (problems.length) console.error('page problems:\n' + problems.join('\n'));
  if (page) {
    try { console.error('page text:\n' + (await page.locator('body').innerText())); } catch (_) { /* closed */ }
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
