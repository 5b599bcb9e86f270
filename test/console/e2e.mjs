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
// Two peerings another account asked for with a VPC of this one (both
// Accepting), and that account's ID: the script accepts the first and
// rejects the second.
const inbound = (process.env.PALISADE_PEER_INBOUND || '').split(',').filter(Boolean);
const otherAccount = process.env.PALISADE_PEER_ACCOUNT || '';
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
  // follow (and nav, for the menu's links) follows a link and waits for its page to be drawn:
  // the previous page may have fields of the same names.
  const follow = async (link) => {
    const href = await link.getAttribute('href');
    await link.click();
    await page.locator('main[data-route="' + href + '"]').waitFor({ state: 'attached' });
  };
  const nav = (name) => follow(page.getByRole('link', { name, exact: true }));
  const alert = () => page.locator('main [role="alert"]');
  const status = () => page.locator('main [role="status"]');
  const cell = (text) => page.getByRole('cell', { name: text, exact: true });
  const row = (text) => page.getByRole('row').filter({ has: cell(text) });
  // Confirmations (window.confirm before a delete or release) are accepted
  // and remembered.
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.type() + ': ' + d.message()); d.accept().catch(() => {}); });
  // act clicks a button and waits for the status message it gives.
  const act = async (name, statusText) => {
    await button(name).click();
    await status().filter({ hasText: statusText }).waitFor();
  };
  // refused clicks a button and waits for the API error code in the alert.
  const refused = async (name, code) => {
    await button(name).click();
    await alert().filter({ hasText: code }).waitFor();
    return alert().textContent();
  };
  const create = async (fields, submit, prefix) => {
    for (const [l, v] of Object.entries(fields)) await label(l).fill(v);
    await button(submit).click();
    return idFrom(prefix);
  };
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
  await follow(page.getByRole('link', { name: sgId, exact: true }));
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

  step('security group: inner access policy and members');
  await nav('Security groups');
  await follow(page.getByRole('link', { name: sgId, exact: true }));
  await page.getByText('Inner access: Accept').waitFor();
  await label('Inner access policy').selectOption('Drop');
  await act('Change policy', 'Inner access policy set to Drop');
  await page.getByText('Inner access: Drop').waitFor();
  await row(instances[0]).waitFor(); // the instances run in the group are its members
  await nav('Security groups');
  const sg2Id = await create({ 'VPC ID': vpcId, 'Group name': 'console-sg2' }, 'Create security group', 'sg-');
  await follow(page.getByRole('link', { name: sg2Id, exact: true }));
  await page.getByRole('heading', { name: 'Security group ' + sg2Id }).waitFor();
  for (const id of instances) {
    await label('Instance ID').fill(id);
    await act('Add instance', 'Added instance ' + id);
    await row(id).waitFor();
  }
  await act('Remove instance ' + instances[0], 'Removed instance ' + instances[0]);
  await row(instances[0]).waitFor({ state: 'detached' });
  await row(instances[1]).waitFor();
  // A rule of the second group whose peer is the first group: the first
  // is then referenced by the second.
  await label('Direction').selectOption('ingress');
  await label('Protocol').selectOption('TCP');
  await label('Port range').fill('5432/5432');
  await label('CIDR').fill('');
  await label('or security group').fill(sgId);
  await button('Authorize').click();
  await status().filter({ hasText: 'Authorized' }).waitFor();
  await row('5432/5432').getByRole('cell', { name: sgId, exact: true }).waitFor();
  await page.locator('#sg-referenced-by').filter({ hasText: 'no group' }).waitFor();
  await nav('Security groups');
  await follow(page.getByRole('link', { name: sgId, exact: true }));
  await page.locator('#sg-referenced-by').filter({ hasText: sg2Id }).waitFor();
  await nav('Security groups');
  let err = await refused('Delete security group ' + sgId, 'DependencyViolation');
  check(err.includes(sgId), 'the error names the group: ' + err);
  check(dialogs.some((d) => d === 'confirm: Delete security group ' + sgId + '?'), 'a confirmation was asked: ' + dialogs);

  step('EIPs: allocate, associate, unassociate, release');
  await nav('EIPs');
  const eipA = await create({ 'EIP name': 'console-eip-a' }, 'Allocate EIP', 'eip-');
  await cell('console-eip-a').waitFor();
  await label('Allocation ID').fill(eipA);
  await label('Instance ID').fill(instances[0]);
  await act('Associate EIP', 'Associated EIP ' + eipA + ' with ' + instances[0]);
  await row(eipA).getByRole('cell', { name: 'EcsInstance ' + instances[0], exact: true }).waitFor();
  err = await refused('Associate EIP', 'IncorrectEipStatus'); // already associated
  await act('Unassociate EIP ' + eipA, 'Unassociated EIP ' + eipA);
  await row(eipA).getByRole('cell', { name: 'Available', exact: true }).waitFor();
  await act('Release EIP ' + eipA, 'Released EIP ' + eipA);
  await cell(eipA).waitFor({ state: 'detached' });
  check(dialogs.some((d) => d.startsWith('confirm: Release EIP ' + eipA + '?')), 'release asked: ' + dialogs);
  const eipB = await create({ 'EIP name': 'console-eip-b' }, 'Allocate EIP', 'eip-');
  await label('Allocation ID').fill(eipB);
  await label('Instance ID').fill(instances[1]);
  await act('Associate EIP', 'Associated EIP ' + eipB + ' with ' + instances[1]);
  await row(eipB).getByRole('cell', { name: 'EcsInstance ' + instances[1], exact: true }).waitFor();
  await shot('eips');

  step('network ACL: create, associate, entries');
  await nav('Network ACLs');
  const aclId = await create({ 'VPC ID': vpcId, 'ACL name': 'console-acl' }, 'Create network ACL', 'nacl-');
  await cell('console-acl').waitFor();
  await follow(page.getByRole('link', { name: aclId, exact: true }));
  await page.getByRole('heading', { name: 'Network ACL ' + aclId }).waitFor();
  await label('vSwitch ID').fill(vswId);
  await act('Associate vSwitch', 'Associated vSwitch ' + vswId);
  await cell(vswId).waitFor();
  const addEntry = async (dir, proto, port, cidr, name) => {
    await label('Direction').selectOption(dir);
    await label('Policy').selectOption('accept');
    await label('Protocol').selectOption(proto);
    await label('Port range').fill(port);
    await label('CIDR').fill(cidr);
    await label('Entry name').fill(name);
    await button('Add entry').click();
  };
  for (const [dir, proto, port, cidr, name] of [['ingress', 'tcp', '22/22', '10.0.0.0/8', 'ssh-in'],
    ['ingress', 'udp', '53/53', '10.0.0.0/8', 'dns-in'], ['egress', 'all', '-1/-1', '0.0.0.0/0', 'all-out']]) {
    await addEntry(dir, proto, port, cidr, name);
    await status().filter({ hasText: 'Added the ' + dir + ' entry ' + name }).waitFor();
    await cell(name).waitFor();
  }
  await cell('ssh-in').waitFor(); // the first entry stays when the second is added
  check(await row('ssh-in').getByRole('cell', { name: '22/22', exact: true }).count() === 1, 'ssh-in lists its port');
  await addEntry('ingress', 'tcp', '90/80', '10.0.0.0/8', 'bad');
  await alert().filter({ hasText: 'IllegalParam.Port' }).waitFor();
  check(await cell('bad').count() === 0, 'no entry for the invalid port range');
  await act('Remove entry dns-in', 'Removed entry dns-in');
  await cell('dns-in').waitFor({ state: 'detached' });
  await cell('ssh-in').waitFor();
  await cell('all-out').waitFor();
  await shot('network-acl');
  await nav('Network ACLs');
  await row(aclId).getByText('ssh-in: accept tcp 22/22 10.0.0.0/8').waitFor();

  step('delete: refused while something depends on it, then in order');
  await nav('VPCs');
  const tmpVpc = await create({ 'CIDR block': '10.30.0.0/16', 'VPC name': 'console-tmp' }, 'Create VPC', 'vpc-');
  await nav('vSwitches');
  const tmpVsw = await create({ 'VPC ID': tmpVpc, 'CIDR block': '10.30.1.0/24', 'vSwitch name': 'console-tmp-vsw' },
    'Create vSwitch', 'vsw-');
  await nav('Security groups');
  const tmpSg = await create({ 'VPC ID': tmpVpc, 'Group name': 'console-tmp-sg' }, 'Create security group', 'sg-');
  await nav('Instances');
  const tmpInst = await create({ 'vSwitch ID': tmpVsw, 'Security group ID': tmpSg, 'Instance name': 'console-tmp-i' },
    'Run instance', 'i-');
  await nav('VPCs');
  err = await refused('Delete VPC ' + tmpVpc, 'DependencyViolation');
  check(err.includes(tmpVsw), 'the error names the vSwitch: ' + err);
  check(await cell(tmpVpc).count() === 1, 'the VPC is still listed');
  await nav('vSwitches');
  await refused('Delete vSwitch ' + tmpVsw, 'DependencyViolation'); // the instance's address
  await nav('Security groups');
  await refused('Delete security group ' + tmpSg, 'DependencyViolation'); // the instance is a member
  await nav('Instances');
  await act('Delete instance ' + tmpInst, 'Deleted instance ' + tmpInst);
  await cell(tmpInst).waitFor({ state: 'detached' });
  check(dialogs.some((d) => d.startsWith('confirm: Delete instance ' + tmpInst + '? It is ')), 'forced delete asked: ' + dialogs);
  await nav('Security groups');
  await act('Delete security group ' + tmpSg, 'Deleted security group ' + tmpSg);
  await cell(tmpSg).waitFor({ state: 'detached' });
  await nav('vSwitches');
  await act('Delete vSwitch ' + tmpVsw, 'Deleted vSwitch ' + tmpVsw);
  await cell(tmpVsw).waitFor({ state: 'detached' });
  await nav('VPCs');
  await act('Delete VPC ' + tmpVpc, 'Deleted VPC ' + tmpVpc);
  await cell(tmpVpc).waitFor({ state: 'detached' });
  await cell(vpcId).waitFor();

  step('network interfaces: a secondary one created, given an IP, attached, detached, deleted');
  await nav('Network interfaces');
  await page.getByRole('cell', { name: instances[0], exact: true }).first().waitFor();
  const eni2 = await create({ 'vSwitch ID': vswId, 'Security group ID': sgId, 'Interface name': 'console-eni', 'Primary IP': '10.20.1.200' },
    'Create network interface', 'eni-');
  await row(eni2).getByRole('cell', { name: 'Available', exact: true }).waitFor();
  await row(eni2).getByRole('cell', { name: '10.20.1.200', exact: true }).waitFor();
  await label('ENI ID').fill(eni2);
  await label('Address').fill('10.20.1.201');
  await act('Change IPs', 'Assigned 10.20.1.201 to ' + eni2);
  await row(eni2).getByRole('cell', { name: '10.20.1.201', exact: true }).waitFor();
  await label('Address').fill('10.20.1.200');
  await refused('Change IPs', 'InvalidPrivateIpAddress.Duplicated');
  await label('Interface ID').fill(eni2);
  await label('Instance ID').fill(instances[0]);
  await act('Attach', 'Attached ' + eni2 + ' to ' + instances[0]);
  await row(eni2).getByRole('cell', { name: instances[0], exact: true }).waitFor();
  await act('Detach network interface ' + eni2, 'Detached network interface ' + eni2);
  await row(eni2).getByRole('cell', { name: 'Available', exact: true }).waitFor();
  await act('Delete network interface ' + eni2, 'Deleted network interface ' + eni2);
  await cell(eni2).waitFor({ state: 'detached' });

  step('instances: stop, start');
  await nav('Instances');
  await act('Stop instance ' + instances[0], 'Stopped instance ' + instances[0]);
  await row(instances[0]).getByRole('cell', { name: 'Stopped', exact: true }).waitFor();
  await act('Start instance ' + instances[0], 'Started instance ' + instances[0]);
  await row(instances[0]).getByRole('cell', { name: 'Running', exact: true }).waitFor();

  step('can A reach B?');
  await nav('Can A reach B?');
  await label('From (A)').fill(instances[0]);
  await label('To (B)').fill(instances[1]);
  await label('Protocol').selectOption('tcp');
  await label('Port').fill('22');
  await button('Analyze').click();
  await page.locator('#verdict').waitFor();
  const verdict = (await page.locator('#verdict').textContent()).trim();
  // The group's tcp/22 rule was revoked and its inner access policy is
  // now Drop: nothing lets tcp/22 into B, and the default decides.
  check(verdict === 'unreachable', 'verdict ' + verdict + ', want unreachable');
  const denied = page.locator('#reach-result tr').filter({ hasText: 'sg-ingress' }).filter({ hasText: 'deny' });
  await denied.first().waitFor();
  const deniedText = await denied.first().textContent();
  check(deniedText.includes('no ingress rule matched'), 'the sg-ingress step is decided by the default: ' + deniedText);
  await shot('reach');
  // An API error is shown with its code.
  await label('From (A)').fill('i-doesnotexist');
  await button('Analyze').click();
  await alert().waitFor({ state: 'visible' });
  const reachErr = await alert().textContent();
  check(/NotFound|Invalid/.test(reachErr), 'reachability error shown: ' + reachErr);

  // A fresh VPC, group and two instances: the analysis steps below know
  // exactly what decides their traffic (no network ACL, no EIP).
  step('analysis setup: a fresh VPC, group and two instances');
  await nav('VPCs');
  const mxVpc = await create({ 'CIDR block': '10.40.0.0/16', 'VPC name': 'console-mx' }, 'Create VPC', 'vpc-');
  await nav('vSwitches');
  const mxVsw = await create({ 'VPC ID': mxVpc, 'CIDR block': '10.40.1.0/24', 'vSwitch name': 'console-mx-vsw' }, 'Create vSwitch', 'vsw-');
  await nav('Security groups');
  const mxSg = await create({ 'VPC ID': mxVpc, 'Group name': 'console-mx-sg' }, 'Create security group', 'sg-');
  await nav('Instances');
  const mxA = await create({ 'vSwitch ID': mxVsw, 'Security group ID': mxSg, 'Instance name': 'mx-a' }, 'Run instance', 'i-');
  const mxB = await create({ 'vSwitch ID': mxVsw, 'Security group ID': mxSg, 'Instance name': 'mx-b' }, 'Run instance', 'i-');
  check(mxA !== mxB, 'two distinct instances');
  const openSg = async () => {
    await nav('Security groups');
    await follow(page.getByRole('link', { name: mxSg, exact: true }));
    await page.getByRole('heading', { name: 'Security group ' + mxSg }).waitFor();
  };

  step('reachability matrix');
  // One group whose inner access policy is Accept (a new group's): its
  // members reach each other on every port.
  await nav('Reachability matrix');
  await label('VPC ID').fill(mxVpc);
  await label('Ports').fill('22,udp:53');
  await button('Show matrix').click();
  const mxCell = button(mxA + ' → ' + mxB + ' on tcp:22');
  await mxCell.waitFor();
  check((await mxCell.textContent()).trim() === 'reachable', 'matrix cell A→B tcp:22: ' + (await mxCell.textContent()));
  check((await button(mxB + ' → ' + mxA + ' on udp:53').textContent()).trim() === 'reachable', 'matrix cell B→A udp:53');
  check((await mxCell.getAttribute('title')).includes('the flow opens and its replies pass'), 'the cell title says what it means');
  await mxCell.click(); // the rules that decide the cell
  await page.locator('#cell-verdict').filter({ hasText: 'reachable' }).waitFor();
  const decided = await page.locator('#matrix-detail .decided').first().textContent();
  check(decided.includes('sg-ingress') && decided.includes(mxSg), 'the deciding step is the group: ' + decided);
  await shot('matrix');

  step('what if: a proposed accept rule');
  await openSg();
  await label('Inner access policy').selectOption('Drop');
  await act('Change policy', 'Inner access policy set to Drop');
  await nav('What if');
  await label('From (A)').fill(mxA);
  await label('To (B)').fill(mxB);
  await label('Protocol').selectOption('tcp');
  await label('Port').fill('22');
  await label('Proposed change').selectOption('add');
  await label('Security group ID').fill(mxSg);
  await label('Direction').selectOption('ingress');
  await label('Rule protocol').selectOption('tcp');
  await label('Rule port range').fill('22/22');
  await label('Peer CIDR').fill('10.40.0.0/16');
  await label('Rule policy').selectOption('accept');
  await button('Compare').click();
  await page.locator('#verdict-after').waitFor();
  const before = (await page.locator('#verdict-before').textContent()).trim();
  const after = (await page.locator('#verdict-after').textContent()).trim();
  check(before === 'unreachable' && after === 'reachable', 'what if: before ' + before + ', after ' + after);
  await page.getByRole('region', { name: 'After' }).getByText('add ingress rule sgr-whatif-1 to ' + mxSg, { exact: false }).waitFor();
  await shot('what-if');
  // Removing a rule that does not exist: the API's error.
  await label('Proposed change').selectOption('remove');
  await label('Rule ID (to remove)').fill('sgr-doesnotexist');
  await refused('Compare', 'InvalidSecurityGroupRuleId.NotFound');

  step('security audit: SSH open to 0.0.0.0/0');
  await openSg();
  await label('Direction').selectOption('ingress');
  await label('Protocol').selectOption('TCP');
  await label('Port range').fill('22/22');
  await label('CIDR').fill('0.0.0.0/0');
  await label('Policy').selectOption('accept');
  await button('Authorize').click();
  await status().filter({ hasText: 'Authorized' }).waitFor();
  const openRule = (await row('0.0.0.0/0').getByRole('cell').first().textContent()).trim();
  check(openRule.startsWith('sgr-'), 'open rule ID ' + openRule);
  await nav('Security audit');
  await label('VPC ID').fill(mxVpc);
  await button('Audit').click();
  const finding = page.locator('#audit-result tr').filter({ has: cell(openRule) });
  await finding.waitFor();
  const findingText = await finding.textContent();
  check(findingText.includes('sensitive-port-open') && findingText.includes(mxSg) && findingText.includes('medium') &&
    findingText.includes('SSH') && findingText.includes('0.0.0.0/0'), 'audit finding: ' + findingText);
  await shot('audit');

  step('Cloud Firewall: add, disable, delete policies');
  await nav('Cloud Firewall policies');
  const addPolicy = async (desc, dest, port) => {
    await label('Policy direction').selectOption('in');
    await label('Policy action').selectOption('drop');
    await label('Policy protocol').selectOption('TCP');
    await label('Source type').selectOption('net');
    await label('Policy source').fill('0.0.0.0/0');
    await label('Destination type').selectOption('net');
    await label('Policy destination').fill(dest);
    await label('Destination port').fill(port);
    await label('Order').fill('1');
    await label('Policy description').fill(desc);
    await button('Add policy').click();
    await status().filter({ hasText: 'Added policy' }).waitFor();
    const m = (await status().textContent()).match(/Added policy ([0-9a-f-]{36})/);
    check(m, 'policy UUID in ' + (await status().textContent()));
    await cell(desc).waitFor();
    return m[1];
  };
  const keptPolicy = await addPolicy('console-cfw-keep', '203.0.113.10/32', '3389');
  const deletedPolicy = await addPolicy('console-cfw-del', '203.0.113.11/32', '443');
  await act('Disable policy ' + keptPolicy, 'Disabled policy ' + keptPolicy);
  await row('console-cfw-keep').getByRole('cell', { name: 'false', exact: true }).waitFor();
  await act('Delete policy ' + deletedPolicy, 'Deleted policy ' + deletedPolicy);
  await cell('console-cfw-del').waitFor({ state: 'detached' });
  await cell('console-cfw-keep').waitFor();
  await label('Destination port').fill('70000');
  await refused('Add policy', 'IllegalParam.DestPort');

  step('Cloud Firewall: an address book used by a policy, and the protection of an EIP');
  await nav('Address books');
  const book = async (fields) => {
    for (const [l, v] of Object.entries(fields)) await label(l).fill(v);
    await button('Create address book').click();
  };
  await book({ 'Book name': 'console-admins', Entries: '198.51.100.0/24', 'Book description': 'admin networks' });
  await status().filter({ hasText: 'Created address book console-admins' }).waitFor();
  const bookId = ((await status().textContent()).match(/\(([0-9a-f-]{36})\)/) || [])[1];
  check(bookId, 'address book ID in ' + (await status().textContent()));
  await row('console-admins').getByRole('cell', { name: '198.51.100.0/24', exact: true }).waitFor();
  await book({ 'Book name': 'console-admins', Entries: '192.0.2.0/24', 'Book description': 'again' });
  await alert().filter({ hasText: 'DuplicatedParam.GroupName' }).waitFor();
  await label('Book ID').fill(bookId);
  await label('New entries').fill('198.51.100.0/24,203.0.113.0/24');
  await act('Change entries', 'Changed the entries of ' + bookId);
  await row('console-admins').getByRole('cell', { name: '198.51.100.0/24, 203.0.113.0/24', exact: true }).waitFor();
  // A policy whose source is the book: the book cannot be deleted.
  await nav('Cloud Firewall policies');
  await label('Policy direction').selectOption('in');
  await label('Policy action').selectOption('accept');
  await label('Policy protocol').selectOption('TCP');
  await label('Source type').selectOption('group');
  await label('Policy source').fill('console-admins');
  await label('Destination type').selectOption('net');
  await label('Policy destination').fill('0.0.0.0/0');
  await label('Destination port').fill('22');
  await label('Order').fill('1');
  await label('Policy description').fill('console-ssh-admins');
  await button('Add policy').click();
  await status().filter({ hasText: 'Added policy' }).waitFor();
  const bookPolicy = ((await status().textContent()).match(/Added policy ([0-9a-f-]{36})/) || [])[1];
  check(bookPolicy, 'policy UUID in ' + (await status().textContent()));
  await nav('Address books');
  await row('console-admins').getByRole('cell', { name: '1', exact: true }).waitFor();
  await refused('Delete address book console-admins', 'DependencyViolation.AddressBook');
  await nav('Cloud Firewall protection');
  const eipAddr = (await row(eipB).getByRole('cell').first().textContent()).trim();
  await row(eipB).getByRole('cell', { name: 'open', exact: true }).waitFor();
  await act('Disable protection of ' + eipAddr, 'Disabled protection of ' + eipAddr);
  await row(eipB).getByRole('cell', { name: 'closed', exact: true }).waitFor();

  step('VPC peering: two VPCs, an Activated peering');
  await nav('VPCs');
  const pA = await create({ 'CIDR block': '10.60.0.0/16', 'VPC name': 'console-peer-a' }, 'Create VPC', 'vpc-');
  const pB = await create({ 'CIDR block': '10.61.0.0/16', 'VPC name': 'console-peer-b' }, 'Create VPC', 'vpc-');
  await nav('vSwitches');
  const pVswA = await create({ 'VPC ID': pA, 'CIDR block': '10.60.1.0/24', 'vSwitch name': 'console-peer-vsw' }, 'Create vSwitch', 'vsw-');
  await nav('VPC peering');
  const peering = await create({ 'VPC ID': pA, 'Accepting VPC ID': pB, 'Peering name': 'console-peer' }, 'Create peering', 'pcc-');
  check((await status().textContent()).includes('(Activated)'), 'same-account peering is Activated: ' + (await status().textContent()));
  const peerRow = row(peering);
  await peerRow.getByRole('cell', { name: 'Activated', exact: true }).waitFor();
  check(await peerRow.getByRole('cell', { name: pA + ' (10.60.0.0/16)', exact: true }).count() === 1, 'the peering lists its VPC');
  check(await peerRow.getByRole('cell', { name: pB + ' (10.61.0.0/16)', exact: true }).count() === 1, 'the peering lists the accepting VPC');
  check(await peerRow.getByRole('cell', { name: /\(this account\)$/ }).count() === 2, 'both ends are this account');
  check(await button('Accept peering ' + peering).count() === 0, 'no Accept button on an Activated peering');
  await nav('VPC peering'); // creating it twice: the API's error
  await label('VPC ID').fill(pB);
  await label('Accepting VPC ID').fill(pA);
  await refused('Create peering', 'ResourceAlreadyExist.VpcPeer');
  await shot('peering');

  step('VPC peering: accept and reject another account\'s requests');
  check(inbound.length === 2 && /^\d{16}$/.test(otherAccount), 'PALISADE_PEER_INBOUND and PALISADE_PEER_ACCOUNT: ' + inbound + ' ' + otherAccount);
  for (const id of inbound) {
    await row(id).getByRole('cell', { name: 'Accepting', exact: true }).waitFor();
    // The requester's 16-digit ID, exactly (not rounded to a double).
    check(await row(id).getByRole('cell', { name: otherAccount, exact: true }).count() === 1, 'the requester is listed: ' +
      (await row(id).textContent()));
    check(await button('Delete peering ' + id).count() === 1, 'either end may delete it');
  }
  await act('Accept peering ' + inbound[0], 'Accepted peering ' + inbound[0]);
  await row(inbound[0]).getByRole('cell', { name: 'Activated', exact: true }).waitFor();
  check(await button('Accept peering ' + inbound[0]).count() === 0, 'no Accept button once Activated');
  await act('Reject peering ' + inbound[1], 'Rejected peering ' + inbound[1]);
  await row(inbound[1]).getByRole('cell', { name: 'Rejected', exact: true }).waitFor();
  check(dialogs.some((d) => d === 'confirm: Reject peering ' + inbound[1] + '?'), 'reject asked: ' + dialogs);

  step('route tables: a VpcPeer route on each side');
  const routeTable = async (vpc) => {
    await nav('Route tables');
    const link = row(vpc).getByRole('link');
    const id = (await link.textContent()).trim();
    check(id.startsWith('vtb-'), 'route table of ' + vpc + ': ' + id);
    await link.click();
    await page.getByRole('heading', { name: 'Route table ' + id }).waitFor();
    return id;
  };
  const addRoute = async (dst, name) => {
    await label('Destination CIDR').fill(dst);
    await label('Peering ID').fill(peering);
    await label('Entry name').fill(name);
    await button('Add route entry').click();
    const id = await idFrom('rte-');
    await row(name).getByRole('cell', { name: peering, exact: true }).waitFor();
    return id;
  };
  const rtA = await routeTable(pA);
  await row('10.60.1.0/24').getByRole('cell', { name: 'System', exact: true }).waitFor();
  const routeA = await addRoute('10.61.0.0/16', 'to-b');
  check(await row('to-b').getByRole('cell', { name: 'VpcPeer', exact: true }).count() === 1, 'a VpcPeer entry');
  check(await row('10.60.1.0/24').getByRole('button').count() === 0, 'no delete button on the system entry');
  err = await refused('Add route entry', 'InvalidCIDRBlock.Duplicate'); // the same destination again
  await label('Destination CIDR').fill('10.60.0.0/16'); // the VPC's own CIDR
  await label('Entry name').fill('overlap');
  err = await refused('Add route entry', 'InvalidCidrBlock.Overlapped');
  check(await cell('overlap').count() === 0, 'no overlapping entry listed');
  await shot('route-table');
  const rtB = await routeTable(pB);
  check(rtA !== rtB, 'two route tables');
  const routeB = await addRoute('10.60.0.0/16', 'to-a');
  await nav('Route tables');
  await row(pA).waitFor();
  await row(pB).waitFor();

  step('reachability matrix across the peering');
  // An instance on each side, each in a fresh group: nothing admits the
  // other VPC, so the cell is blocked at the destination's group, after
  // the route over the peering.
  await nav('vSwitches');
  const pVswB = await create({ 'VPC ID': pB, 'CIDR block': '10.61.1.0/24', 'vSwitch name': 'console-peer-vsw-b' }, 'Create vSwitch', 'vsw-');
  await nav('Security groups');
  const pSgA = await create({ 'VPC ID': pA, 'Group name': 'console-peer-sg-a' }, 'Create security group', 'sg-');
  const pSgB = await create({ 'VPC ID': pB, 'Group name': 'console-peer-sg-b' }, 'Create security group', 'sg-');
  await nav('Instances');
  const pInstA = await create({ 'vSwitch ID': pVswA, 'Security group ID': pSgA, 'Instance name': 'peer-a' }, 'Run instance', 'i-');
  const pInstB = await create({ 'vSwitch ID': pVswB, 'Security group ID': pSgB, 'Instance name': 'peer-b' }, 'Run instance', 'i-');
  await nav('Reachability matrix');
  await label('VPC ID').fill(pA);
  await label('Ports').fill('22');
  await button('Show matrix').click();
  await page.locator('#matrix-result table').first().waitFor();
  check(await button(pInstA + ' → ' + pInstB + ' on tcp:22').count() === 0, 'without the checkbox, no instance of the peer');
  await label('Include peered VPCs').check();
  await button('Show matrix').click();
  const peerCell = button(pInstA + ' → ' + pInstB + ' on tcp:22');
  await peerCell.waitFor();
  check((await peerCell.textContent()).trim() === 'blocked', 'cross-VPC cell A→B tcp:22: ' + (await peerCell.textContent()));
  const mxText = await page.locator('#matrix-result').textContent();
  check(mxText.includes(', ' + pB + ')') && mxText.includes('VPCs: ' + pA + ', ' + pB), 'the instances name their VPCs: ' + mxText);
  await peerCell.click();
  await page.locator('#cell-verdict').filter({ hasText: 'unreachable' }).waitFor();
  const peerDecided = await page.locator('#matrix-detail .decided').first().textContent();
  check(peerDecided.includes('sg-ingress') && peerDecided.includes('deny ingress by default'), 'the deciding step is B\'s group: ' + peerDecided);
  check((await page.locator('#matrix-detail').textContent()).includes('over peering connection ' + peering), 'the trace crosses the peering');
  await shot('matrix-peers');

  step('VPC firewall: create, add a drop policy, close');
  await nav('VPC firewalls');
  await label('Firewall name').fill('console-vfw');
  await label('Local VPC ID').fill(pA);
  await label('Peer VPC ID').fill(pB);
  await label('Switch').selectOption('opened');
  await button('Create VPC firewall').click();
  const vfw = await idFrom('vfw-');
  await row(vfw).getByRole('cell', { name: 'opened', exact: true }).waitFor();
  await follow(page.getByRole('link', { name: vfw, exact: true }));
  await page.getByRole('heading', { name: 'VPC firewall ' + vfw }).waitFor();
  await label('Policy action').selectOption('drop');
  await label('Policy protocol').selectOption('TCP');
  await label('Source type').selectOption('net');
  await label('Policy source').fill('10.60.0.0/16');
  await label('Destination type').selectOption('net');
  await label('Policy destination').fill('10.61.0.0/16');
  await label('Destination port').fill('22');
  await label('Order').fill('1');
  await label('Policy description').fill('console-vfw-drop');
  await button('Add policy').click();
  await status().filter({ hasText: 'Added policy' }).waitFor();
  const vfwPolicy = (await status().textContent()).match(/Added policy ([0-9a-f-]{36})/)[1];
  const polRow = row('console-vfw-drop');
  await polRow.getByRole('cell', { name: 'drop', exact: true }).waitFor();
  check(await polRow.getByRole('cell', { name: '1', exact: true }).count() === 1, 'the policy is first');
  check(await polRow.getByRole('cell', { name: vfwPolicy, exact: true }).count() === 1, 'the policy lists its UUID');
  await label('Order').fill('9');
  await refused('Add policy', 'IllegalParam.NewOrder');
  await shot('vpc-firewall');
  await follow(page.getByRole('link', { name: '← All VPC firewalls' }));
  await act('Close VPC firewall ' + vfw, 'Closed VPC firewall ' + vfw);
  await row(vfw).getByRole('cell', { name: 'closed', exact: true }).waitFor();
  await button('Open VPC firewall ' + vfw).waitFor();

  step('VPC peering: refused while in use, then deleted');
  await nav('VPC peering');
  err = await refused('Delete peering ' + peering, 'DependencyViolation');
  check(err.includes(vfw), 'the error names the firewall: ' + err);
  check(dialogs.some((d) => d === 'confirm: Delete peering ' + peering + '?'), 'peering delete asked: ' + dialogs);
  await nav('VPC firewalls');
  await act('Delete VPC firewall ' + vfw, 'Deleted VPC firewall ' + vfw);
  await cell(vfw).waitFor({ state: 'detached' });
  await nav('VPC peering');
  err = await refused('Delete peering ' + peering, 'DependencyViolation.RouteEntry');
  check(err.includes(routeA) && err.includes(routeB), 'the error names the route entries: ' + err);
  await routeTable(pA);
  await act('Delete route entry ' + routeA, 'Deleted route entry ' + routeA);
  await cell(routeA).waitFor({ state: 'detached' });
  await cell('10.60.1.0/24').waitFor();
  await routeTable(pB);
  await act('Delete route entry ' + routeB, 'Deleted route entry ' + routeB);
  await cell(routeB).waitFor({ state: 'detached' });
  await nav('VPC peering');
  await act('Delete peering ' + peering, 'Deleted peering ' + peering);
  await cell(peering).waitFor({ state: 'detached' });

  step('VPC peering: Force deletes the routes through it');
  await label('VPC ID').fill(pA);
  await label('Accepting VPC ID').fill(pB);
  await label('Peering name').fill('console-peer2');
  await button('Create peering').click();
  await status().filter({ hasText: 'Created peering' }).waitFor();
  const peering2 = await idFrom('pcc-');
  await routeTable(pB);
  await label('Destination CIDR').fill('10.60.0.0/16');
  await label('Peering ID').fill(peering2);
  await label('Entry name').fill('to-a-2');
  await button('Add route entry').click();
  const routeB2 = await idFrom('rte-');
  await nav('VPC peering');
  await refused('Delete peering ' + peering2, 'DependencyViolation.RouteEntry');
  await act('Force delete peering ' + peering2, 'Force deleted peering ' + peering2);
  await cell(peering2).waitFor({ state: 'detached' });
  check(dialogs.some((d) => d.startsWith('confirm: Force delete peering ' + peering2 + '? The route entries')), 'force delete asked: ' + dialogs);
  await routeTable(pB);
  // No custom entry left: only the system entry of the vSwitch.
  await row('10.61.1.0/24').getByRole('cell', { name: 'System', exact: true }).waitFor();
  check(await cell('to-a-2').count() === 0, 'no custom entry left in ' + pB);

  step('flow logs: create (internet traffic only), deactivate, delete');
  await nav('Flow logs');
  await label('Traffic path').selectOption('internetGateway');
  const flowLog = await create({ 'Resource ID': mxVsw, 'Flow log name': 'console-fl' }, 'Create flow log', 'fl-');
  await row(flowLog).getByRole('cell', { name: 'Active', exact: true }).waitFor();
  await row(flowLog).getByRole('cell', { name: 'internetGateway', exact: true }).waitFor();
  await act('Deactivate flow log ' + flowLog, 'Deactivated flow log ' + flowLog);
  await row(flowLog).getByRole('cell', { name: 'Inactive', exact: true }).waitFor();
  // Top talkers: none recorded here (no agent); a bad time is refused.
  await label('Ranked by').selectOption('packets');
  await button('Rank sources').click();
  await page.getByRole('table').filter({ hasText: 'Top sources by packets' }).getByText('None.').waitFor();
  await label('Recorded since').fill('yesterday');
  await refused('Rank sources', 'Since');
  await label('Recorded since').fill('');
  await act('Delete flow log ' + flowLog, 'Deleted flow log ' + flowLog);
  await cell(flowLog).waitFor({ state: 'detached' });
  check(dialogs.some((d) => d === 'confirm: Delete flow log ' + flowLog + '?'), 'flow log delete asked: ' + dialogs);

  step('traffic mirroring: a filter and its rule, a session, refusals, disable, delete');
  await nav('Network interfaces');
  const eniOf = async (inst) => (await row(inst).getByRole('cell').first().textContent()).trim();
  const mxEniA = await eniOf(mxA);
  const mxEniB = await eniOf(mxB);
  check(mxEniA.startsWith('eni-') && mxEniB.startsWith('eni-') && mxEniA !== mxEniB, 'ENIs of the analysis instances: ' + mxEniA + ' ' + mxEniB);
  await nav('Traffic mirror filters');
  const tmf = await create({ 'Filter name': 'console-tmf' }, 'Create filter', 'tmf-');
  const tmf2 = await create({ 'Filter name': 'console-tmf-2' }, 'Create filter', 'tmf-');
  await follow(page.getByRole('link', { name: tmf, exact: true }));
  await page.getByRole('heading', { name: 'Traffic mirror filter ' + tmf }).waitFor();
  await label('Direction').selectOption('egress');
  await label('Protocol').selectOption('TCP');
  await label('Priority').fill('1');
  await label('Destination CIDR').fill('10.40.0.0/16');
  await label('Destination port range').fill('22/22');
  await button('Add rule').click();
  const tmr = await idFrom('tmr-');
  await row(tmr).getByRole('cell', { name: '22/22', exact: true }).waitFor();
  await label('Destination port range').fill('443/80');
  const badPorts = await refused('Add rule', 'IllegalParam.DestinationPortRange');
  check(badPorts.includes('443/80'), 'the refused port range is named: ' + badPorts);
  await nav('Traffic mirror sessions');
  const sessionFields = (sources) => ({ 'Filter ID': tmf, 'Target ENI ID': mxEniB, 'Source ENI IDs': sources, Priority: '7', VNI: '4242' });
  for (const [l, v] of Object.entries(sessionFields(mxEniB))) await label(l).fill(v);
  await refused('Create session', 'OperationDenied.TrafficMirrorSourceIsTarget');
  for (const [l, v] of Object.entries(sessionFields(mxEniA))) await label(l).fill(v);
  await label('Enabled').check();
  await button('Create session').click();
  const tms = await idFrom('tms-');
  await row(tms).getByRole('cell', { name: 'yes', exact: true }).waitFor();
  await row(tms).getByRole('cell', { name: mxEniA, exact: true }).waitFor();
  // A source in another VPC (the first instance's, not peered with it).
  await nav('Network interfaces');
  const otherEni = await eniOf(instances[0]);
  await nav('Traffic mirror sessions');
  await label('Session ID').fill(tms);
  await label('ENI IDs').fill(otherEni);
  await refused('Change sources', 'OperationDenied.TrafficMirrorSourceVpc');
  await act('Disable session ' + tms, 'Disabled session ' + tms);
  await row(tms).getByRole('cell', { name: 'no', exact: true }).waitFor();
  await shot('mirror-sessions');
  await nav('Traffic mirror filters');
  await refused('Delete filter ' + tmf, 'DependencyViolation.TrafficMirrorSession');
  await act('Delete filter ' + tmf2, 'Deleted filter ' + tmf2);
  await cell(tmf2).waitFor({ state: 'detached' });
  await shot('mirror');

  step('PrivateLink: a service of the analysis VPC, an endpoint in the first VPC, its connection enabled');
  await nav('Endpoint services');
  await label('Backend instance or load balancer ID').fill(mxB);
  await label('Description').fill('console-svc');
  await button('Create endpoint service').click();
  const epsrv = await idFrom('epsrv-');
  await row(epsrv).getByRole('cell', { name: 'console-svc', exact: true }).waitFor();
  await nav('Endpoints');
  for (const [l, v] of Object.entries({ 'VPC ID': vpcId, 'Service ID': epsrv, 'Security group ID': sgId, 'vSwitch ID': vswId,
    'Endpoint name': 'console-ep' })) await label(l).fill(v);
  await button('Create endpoint').click();
  const ep = await idFrom('ep-');
  await row(ep).getByRole('cell', { name: 'Disconnected', exact: true }).waitFor();
  await nav('Endpoint services');
  await refused('Delete endpoint service ' + epsrv, 'DependencyViolation.VpcEndpoint');
  await follow(page.getByRole('link', { name: epsrv, exact: true }));
  await page.getByRole('heading', { name: 'Endpoint service ' + epsrv }).waitFor();
  await act('Enable connection ' + ep, 'Enabled connection ' + ep);
  await row(ep).getByRole('cell', { name: 'Connected', exact: true }).waitFor();
  await label('Account ID').fill('not-an-account');
  await refused('Add user', 'IllegalParam.UserId');
  if (otherAccount) {
    await label('Account ID').fill(otherAccount);
    await act('Add user', 'Added user ' + otherAccount);
    await cell(otherAccount).waitFor();
  }
  await shot('endpoint-service');
  await nav('Endpoints');
  await row(ep).getByRole('cell', { name: 'Connected', exact: true }).waitFor();
  // The endpoint's groups: a second one attached, the first detached; the
  // last one, or the last zone, cannot go.
  await follow(page.getByRole('link', { name: ep, exact: true }));
  await page.getByRole('heading', { name: 'Endpoint ' + ep }).waitFor();
  await label('Security group ID').fill(sg2Id);
  await act('Attach', 'Attached security group ' + sg2Id);
  await cell(sg2Id).waitFor();
  await act('Detach security group ' + sgId, 'Detached security group ' + sgId);
  await cell(sgId).waitFor({ state: 'detached' });
  await refused('Detach security group ' + sg2Id, 'InvalidOperation.LastSecurityGroup');
  const zoneId = ((await page.locator('#whoami').textContent()).match(/region (\S+)/) || [])[1] + '-a';
  await row(zoneId).waitFor();
  await refused('Remove zone ' + zoneId, 'InvalidOperation.LastEndpointZone');

  step('load balancers: create, listeners, backend servers, health');
  await nav('Load balancers');
  for (const [l, v] of Object.entries({ 'vSwitch ID': vswId, Address: '10.99.0.1', 'Load balancer name': 'console-lb' })) await label(l).fill(v);
  const badAddr = await refused('Create load balancer', 'InvalidPrivateIpAddress');
  check(badAddr.includes('10.99.0.1'), 'the refused address is named: ' + badAddr);
  await label('Address').fill('10.20.1.200');
  await button('Create load balancer').click();
  const lb = await idFrom('lb-');
  check((await status().textContent()).includes('10.20.1.200'), 'the address is shown: ' + (await status().textContent()));
  for (const c of ['console-lb', '10.20.1.200', vpcId, vswId, 'active']) await row(lb).getByRole('cell', { name: c, exact: true }).waitFor();
  const lb2 = await create({ 'vSwitch ID': vswId, Address: '', 'Load balancer name': 'console-lb2' }, 'Create load balancer', 'lb-');
  check(lb2 !== lb, 'two distinct load balancers');
  await row(lb2).getByRole('cell', { name: 'console-lb2', exact: true }).waitFor();
  await act('Delete load balancer ' + lb2, 'Deleted load balancer ' + lb2);
  await cell(lb2).waitFor({ state: 'detached' });
  check(dialogs.some((d) => d.startsWith('confirm: Delete load balancer ' + lb2 + '?')), 'load balancer delete asked: ' + dialogs);
  await follow(page.getByRole('link', { name: lb, exact: true }));
  await page.getByRole('heading', { name: 'Load balancer ' + lb }).waitFor();
  const addListener = async (protocol, port, backendPort, scheduler, health) => {
    await label('Protocol').selectOption(protocol);
    await label('Listener port').fill(port);
    await label('Backend port').fill(backendPort);
    await label('Scheduler').selectOption(scheduler);
    await label('Health check').selectOption(health);
  };
  await addListener('tcp', '80', '8080', 'rr', 'on');
  await act('Add listener', 'Added listener TCP:80');
  await row('TCP:80').getByRole('cell', { name: 'stopped', exact: true }).waitFor();
  await row('TCP:80').getByRole('cell', { name: 'on, every 2 s', exact: true }).waitFor();
  await addListener('udp', '53', '5353', 'wrr', 'off');
  await act('Add listener', 'Added listener UDP:53');
  await row('UDP:53').getByRole('cell', { name: 'off', exact: true }).first().waitFor();
  await addListener('tcp', '80', '9090', 'wrr', 'on');
  await refused('Add listener', 'ListenerAlreadyExists');
  await label('Instance ID').fill(instances[0]);
  await label('Weight').fill('50');
  await act('Add backend server', 'Added backend server ' + instances[0]);
  await label('Instance ID').fill(instances[1]);
  await label('Weight').fill('100');
  await act('Add backend server', 'Added backend server ' + instances[1]);
  await label('Instance ID').fill(mxB); // of another VPC
  await refused('Add backend server', 'OperationDenied.BackendServerVpc');
  await label('Instance ID').fill(instances[0]);
  await refused('Add backend server', 'BackendServerAlreadyExists');
  const backendRow = (id) => page.getByRole('table', { name: 'Backend servers' }).getByRole('row').filter({ has: cell(id) });
  await backendRow(instances[0]).getByRole('cell', { name: '50', exact: true }).waitFor();
  // Health: a running listener with health checks is abnormal until a
  // check passes (no agent here); a stopped one is unavailable.
  const healthOf = (listener, id) => page.getByRole('table', { name: 'Health' }).getByRole('row')
    .filter({ has: cell(listener) }).filter({ has: cell(id) });
  await healthOf('TCP:80', instances[1]).getByRole('cell', { name: 'unavailable', exact: true }).waitFor();
  await act('Start listener TCP:80', 'Started listener TCP:80');
  await row('TCP:80').getByRole('cell', { name: 'running', exact: true }).first().waitFor();
  await healthOf('TCP:80', instances[0]).getByRole('cell', { name: 'abnormal', exact: true }).waitFor();
  await healthOf('UDP:53', instances[0]).getByRole('cell', { name: 'unavailable', exact: true }).waitFor();
  await act('Start listener UDP:53', 'Started listener UDP:53');
  await act('Stop listener UDP:53', 'Stopped listener UDP:53');
  await act('Delete listener UDP:53', 'Deleted listener UDP:53');
  await cell('UDP:53').first().waitFor({ state: 'detached' });
  await act('Remove backend server ' + instances[1], 'Removed backend server ' + instances[1]);
  await backendRow(instances[1]).waitFor({ state: 'detached' });
  await healthOf('TCP:80', instances[1]).waitFor({ state: 'detached' });
  await shot('load-balancer');
  // The load balancer backs a PrivateLink service.
  await nav('Endpoint services');
  await label('Backend instance or load balancer ID').fill(lb);
  await label('Description').fill('console-lb-svc');
  await button('Create endpoint service').click();
  const lbSvc = await idFrom('epsrv-');
  await row(lbSvc).getByRole('cell', { name: 'console-lb-svc', exact: true }).waitFor();

  step('WAF: protect and unprotect an instance port');
  await nav('WAF protection');
  const tpl = await create({ 'Template name': 'console-tpl' }, 'Create template', 'waftpl-');
  const prot = await create({ 'Instance ID': mxA, Port: '8080', 'Template ID': tpl }, 'Protect', 'waf-');
  check((await status().textContent()).includes('NoEip'), 'no EIP: not in force: ' + (await status().textContent()));
  await row(prot).getByRole('cell', { name: tpl, exact: true }).waitFor();
  await refused('Protect', 'InvalidProtection.Duplicate');
  // Rules of the object: a custom rule and a blacklist; bad conditions
  // are refused; a rule deleted; the rest go with the object.
  await nav('WAF rules');
  await label('Protected object ID').fill(prot);
  await label('Rule kind').selectOption('custom');
  await label('Rule name').fill('console-admin');
  await label('Conditions').fill('path prefix /admin && method equals post');
  await label('Rule action').selectOption('block');
  await button('Add rule').click();
  const wafRule = await idFrom('wafr-');
  // Shown as the WAF reads it: values quoted, the method upper-cased.
  await row(wafRule).getByRole('cell', { name: 'path prefix "/admin" && method equals "POST"', exact: true }).waitFor();
  await label('Conditions').fill('path frobnicates /x');
  const badCond = await refused('Add rule', 'InvalidParameter');
  check(badCond.includes('Conditions'), 'the refusal names Conditions: ' + badCond);
  await label('Rule kind').selectOption('blacklist');
  await label('Rule name').fill('console-bad-net');
  await label('Conditions').fill('');
  await label('Blacklisted addresses').fill('198.51.100.0/24, 203.0.113.5');
  await button('Add rule').click();
  const wafBlack = await idFrom('wafr-');
  await row(wafBlack).getByRole('cell', { name: '198.51.100.0/24, 203.0.113.5/32', exact: true }).waitFor();
  await act('Delete WAF rule ' + wafRule, 'Deleted WAF rule ' + wafRule);
  await cell(wafRule).waitFor({ state: 'detached' });
  await nav('WAF protection');
  await act('Delete protected object ' + prot, 'Deleted protected object ' + prot);
  await cell(prot).waitFor({ state: 'detached' });

  step('access keys: create (secret shown once), delete');
  await nav('Access keys');
  await row(keyId).getByRole('cell', { name: 'in use', exact: true }).waitFor();
  const newKey = async () => {
    await button('Create access key').click();
    await page.locator('#new-key-secret').waitFor();
    const id = (await page.locator('#new-key-id').textContent()).trim();
    const sec = (await page.locator('#new-key-secret').textContent()).trim();
    check(id && sec.length >= 16 && id !== keyId, 'new key ' + id);
    await page.getByText('it is not shown again').waitFor();
    await cell(id).waitFor();
    return [id, sec];
  };
  const [key1] = await newKey();
  await act('Delete access key ' + key1, 'Deleted access key ' + key1);
  await cell(key1).waitFor({ state: 'detached' });
  check(await page.locator('#new-key-secret').count() === 0, 'the secret is not shown again');
  const [key2, secret2] = await newKey();
  step('access keys: deleting the session\'s own key logs out');
  await button('Log out').click();
  await label('AccessKey ID').fill(key2);
  await label('AccessKey secret').fill(secret2);
  await button('Log in').click();
  await button('Log out').waitFor();
  await nav('Access keys');
  await row(key2).getByRole('cell', { name: 'in use', exact: true }).waitFor();
  await button('Delete access key ' + key2).click();
  await page.locator('#login-alert').filter({ hasText: 'InvalidSession' }).waitFor();
  check(await page.locator('#app-view').isHidden(), 'the app is hidden once the session key is gone');
  check(dialogs.some((d) => d.startsWith('confirm: Delete access key ' + key2 + '? This console session uses it')), 'own key delete asked: ' + dialogs);
  await label('AccessKey ID').fill(keyId);
  await label('AccessKey secret').fill(secret);
  await button('Log in').click();
  await button('Log out').waitFor();
  check(await page.locator('#login-alert').isHidden(), 'the login alert is cleared');

  step('other views render');
  for (const [link, heading] of [['Network ACLs', 'Network ACLs'], ['EIPs', 'EIPs'], ['Flow logs', 'Flow logs'],
    ['WAF logs', 'WAF logs'], ['Anti-DDoS', 'Anti-DDoS'], ['Cloud Firewall policies', 'Cloud Firewall control policies'],
    ['WAF protection', 'WAF protection'], ['Access keys', 'Access keys'], ['Security audit', 'Security audit'],
    ['VPC peering', 'VPC peering'], ['Route tables', 'Route tables'], ['VPC firewalls', 'VPC firewalls'],
    ['Traffic mirror filters', 'Traffic mirror filters'], ['Traffic mirror sessions', 'Traffic mirror sessions'],
    ['Endpoint services', 'Endpoint services'], ['Endpoints', 'Endpoints'], ['Load balancers', 'Load balancers'],
    ['Cloud Firewall protection', 'Cloud Firewall protection'], ['Address books', 'Address books'], ['WAF rules', 'WAF rules']]) {
    await nav(link);
    await page.getByRole('heading', { name: heading, exact: true }).waitFor();
    await page.locator('main table, main p.muted').first().waitFor();
    check(await alert().isHidden(), link + ' shows an error: ' + (await alert().textContent()));
  }
  step('Anti-DDoS: an EIP\'s protection and its scrubbing threshold');
  await nav('Anti-DDoS');
  await row(eipB).getByRole('cell', { name: 'normal', exact: true }).waitFor();
  await label('EIP ID').fill(eipB);
  await label('Threshold (Mbit/s)').fill('999999');
  await label('Threshold (packets/s)').fill('1000');
  const tooHigh = await refused('Set threshold', 'InvalidParameter');
  check(tooHigh.includes('999999'), 'the refused threshold is named: ' + tooHigh);
  await label('Threshold (Mbit/s)').fill('50');
  await act('Set threshold', 'Set the scrubbing threshold of ' + eipB);
  await row(eipB).getByRole('cell', { name: '50', exact: true }).waitFor();
  await row(eipB).getByRole('cell', { name: '1000', exact: true }).waitFor();
  // Anti-DDoS events of an EIP that does not exist: the API's error.
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
  console.log('RESULT ' + JSON.stringify({ VpcId: vpcId, VSwitchId: vswId, SecurityGroupId: sgId, Instances: instances, Verdict: verdict,
    SecurityGroup2Id: sg2Id, ReleasedEip: eipA, BoundEip: eipB, NetworkAclId: aclId,
    DeletedVpcId: tmpVpc, DeletedVSwitchId: tmpVsw, DeletedSecurityGroupId: tmpSg, DeletedInstanceId: tmpInst,
    AnalysisVpcId: mxVpc, AnalysisGroupId: mxSg, OpenRuleId: openRule, WhatIf: [before, after],
    KeptPolicy: keptPolicy, DeletedPolicy: deletedPolicy, DeletedFlowLog: flowLog, WafTemplate: tpl, DeletedProtection: prot,
    DeletedKeys: [key1, key2],
    PeerVpcs: [pA, pB], RouteTables: [rtA, rtB], DeletedPeerings: [peering, peering2], DeletedRoutes: [routeA, routeB, routeB2],
    DeletedVpcFirewall: vfw, MirrorFilter: tmf, MirrorRule: tmr, MirrorSession: tms, MirrorENIs: [mxEniA, mxEniB], DeletedMirrorFilter: tmf2,
    EndpointService: epsrv, Endpoint: ep, ServiceBackend: mxB, AddressBook: bookId, BookPolicy: bookPolicy, UnprotectedEip: eipB, DeletedEni: eni2,
    LoadBalancer: lb, DeletedLoadBalancer: lb2, LoadBalancerService: lbSvc }));
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
