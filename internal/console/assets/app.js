// Palisade web console: plain JavaScript, no build step, no third-party
// code. Every call goes to /console/api, which dispatches it through the
// API server's router as the logged-in account. Data is put in the page
// with textContent and DOM APIs only (never innerHTML).
'use strict';

const V = {
  ECS: '2014-05-26',
  VPC: '2016-04-28',
  CFW: '2017-12-07',
  DDOS: '2017-05-18',
  PALISADE: '2026-11-01',
  PEER: '2022-01-01',
  PL: '2020-04-15',
  SLB: '2014-05-15',
};

const state = { csrf: '', who: null };

// ---------- DOM helpers ----------

// el builds an element: attrs are set as attributes (on* keys as event
// listeners), children are nodes or strings (text nodes).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function $(id) { return document.getElementById(id); }

// ApiError is an error in the cloud's shape: Code, Message, RequestId.
class ApiError extends Error {
  constructor(status, body) {
    super((body && body.Message) || ('HTTP ' + status));
    this.status = status;
    this.code = (body && body.Code) || 'HTTP' + status;
    this.requestId = (body && body.RequestId) || '';
  }
}

async function post(path, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (state.csrf) headers['X-Palisade-CSRF'] = state.csrf;
  const resp = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body), credentials: 'same-origin' });
  return decode(resp);
}

// bigInts keeps integers that a double cannot hold (16-digit account IDs
// such as OwnerId) as their digits, where the browser gives the source.
function bigInts(_key, v, ctx) {
  return typeof v === 'number' && !Number.isSafeInteger(v) && Number.isInteger(v) && ctx && ctx.source ? ctx.source : v;
}

async function decode(resp) {
  let body = null;
  try { body = JSON.parse(await resp.text(), bigInts); } catch (_) { body = null; }
  if (!resp.ok) {
    const err = new ApiError(resp.status, body);
    if (resp.status === 401 && err.code === 'InvalidSession') loggedOut(err);
    throw err;
  }
  return body;
}

// call sends one action: params is a flat map of RPC parameters
// ("Permissions.1.IpProtocol": "TCP"); empty values are left out, as the
// SDKs leave out unset fields.
function call(version, action, params) {
  const p = {};
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && String(v) !== '') p[k] = String(v);
  }
  return post('api', { Version: version, Action: action, Params: p });
}

// alertBox is a page's error area (role="alert"): it shows an API error's
// Code and Message.
function alertBox() {
  const box = el('div', { class: 'alert', role: 'alert', hidden: true });
  box.show = (err) => {
    box.replaceChildren();
    if (err instanceof ApiError) {
      box.append(el('strong', {}, err.code), ': ', err.message);
      if (err.requestId) box.append(el('div', { class: 'muted' }, 'RequestId ' + err.requestId));
    } else {
      box.append(String(err && err.message ? err.message : err));
    }
    box.hidden = false;
  };
  box.clear = () => { box.replaceChildren(); box.hidden = true; };
  return box;
}

// clearMessages hides the alert, the page's status messages and what is
// shown once (stale once the user acts again).
function clearMessages(alert) {
  alert.clear();
  for (const s of document.querySelectorAll('main [role="status"], main .once')) { if (s.clear) s.clear(); }
}

function statusBox() {
  const box = el('div', { class: 'status', role: 'status', hidden: true });
  box.show = (msg) => { box.textContent = msg; box.hidden = false; };
  box.clear = () => { box.textContent = ''; box.hidden = true; };
  return box;
}

let fieldSeq = 0;

// form builds an inline form. fields: {name, label, type ('text' default,
// 'select', 'number'), options ([value, label] pairs or values), value,
// required, placeholder, list}. onSubmit(values) may be async; its errors
// go to alert.
function form(title, fields, submitLabel, onSubmit, alert) {
  const f = el('form', { class: 'inline', 'aria-label': title });
  const inputs = {};
  for (const fd of fields) {
    const id = 'f' + (++fieldSeq);
    let input;
    if (fd.type === 'checkbox') {
      // Sent as "true" when checked, left out otherwise.
      input = el('input', { id, name: fd.name, type: 'checkbox' });
      input.checked = !!fd.value;
    } else if (fd.type === 'select') {
      input = el('select', { id, name: fd.name });
      for (const o of fd.options) {
        const [value, label] = Array.isArray(o) ? o : [o, o];
        input.append(el('option', { value }, label));
      }
      if (fd.value !== undefined) input.value = fd.value;
    } else {
      input = el('input', { id, name: fd.name, type: fd.type || 'text', required: !!fd.required,
        placeholder: fd.placeholder, list: fd.list, spellcheck: 'false' });
      if (fd.value !== undefined) input.value = fd.value;
    }
    inputs[fd.name] = input;
    f.append(el('div', { class: 'field' }, el('label', { for: id }, fd.label), input));
  }
  const btn = el('button', { type: 'submit' }, submitLabel);
  f.append(btn);
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearMessages(alert);
    const values = {};
    for (const [k, input] of Object.entries(inputs)) {
      values[k] = input.type === 'checkbox' ? (input.checked ? 'true' : '') : input.value.trim();
    }
    btn.disabled = true;
    try {
      await onSubmit(values);
    } catch (err) {
      alert.show(err);
    } finally {
      btn.disabled = false;
    }
  });
  f.inputs = inputs;
  return f;
}

// table builds a table; cols: [header, row => string | Node].
function table(caption, cols, rows) {
  const t = el('table', {},
    el('caption', { class: 'muted' }, caption),
    el('thead', {}, el('tr', {}, cols.map(([h]) => el('th', { scope: 'col' }, h)))));
  const body = el('tbody');
  if (!rows || rows.length === 0) {
    body.append(el('tr', {}, el('td', { class: 'empty', colspan: cols.length }, 'None.')));
  }
  for (const r of rows || []) {
    body.append(el('tr', {}, cols.map(([, f]) => {
      const v = f(r);
      return el('td', {}, v === undefined || v === null ? '' : v);
    })));
  }
  t.append(body);
  return t;
}

function list(v) { return Array.isArray(v) ? v : []; }
function join(v) { return list(v).join(', '); }
function yes(b) { return b ? 'yes' : 'no'; }
function unixTime(s) { return s ? new Date(s * 1000).toISOString().replace('.000Z', 'Z') : ''; }
function link(href, text) { return el('a', { href }, text); }

// page replaces the main area: a heading, the alert and status areas, and
// whatever else the view adds. load refills the page's listing (see
// listing); actions call it after a change.
function page(title) {
  const main = $('main');
  const alert = alertBox();
  const status = statusBox();
  const body = el('div');
  main.replaceChildren(el('h2', {}, title), alert, status, body);
  // Which route drew the page: lets a driver (and a test) tell the new
  // page from the one it replaced.
  main.dataset.route = location.hash || '#/vpcs';
  document.title = title + ' · Palisade console';
  return { alert, status, body, load: async () => {} };
}

// listing returns a container that fn (async, returning a node) fills,
// and makes it the page's listing: pg.load() refills it.
function listing(pg, fn) {
  const c = el('div');
  pg.load = () => fill(c, pg.alert, fn);
  return c;
}

// done turns fn (async, returning a status message) into an action that
// shows the message and reloads the page's listing: a form's onSubmit.
function done(pg, fn) {
  return async (values) => {
    const msg = await fn(values);
    pg.status.show(msg);
    await pg.load();
  };
}

// actionButton is a button in a table row. opts: verb ("Delete"), kind
// ("VPC"), id; its accessible name is "Delete VPC vpc-1" and, once fn
// (async) succeeds, the status says "Deleted VPC vpc-1." (the verbs used
// verbs that do not take a "d" give opts.past). With opts.ask (a string, may be empty) window.confirm
// asks "Delete VPC vpc-1?" + ask first. Errors go to the alert.
function actionButton(pg, opts, fn) {
  const what = opts.kind + ' ' + opts.id;
  const b = el('button', { type: 'button', class: opts.danger || opts.ask !== undefined ? 'danger' : null,
    'aria-label': opts.verb + ' ' + what }, opts.verb);
  b.addEventListener('click', async () => {
    if (opts.ask !== undefined && !window.confirm(opts.verb + ' ' + what + '?' + (opts.ask ? ' ' + opts.ask : ''))) return;
    clearMessages(pg.alert);
    b.disabled = true;
    try {
      await done(pg, async () => { await fn(); return (opts.past || opts.verb + 'd') + ' ' + what + '.'; })();
    } catch (err) {
      pg.alert.show(err);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

// callButton is an actionButton that sends one action.
function callButton(pg, opts, version, action, params) {
  return actionButton(pg, opts, () => call(version, action, params));
}

// deleteButton is a callButton that asks for a confirmation first.
function deleteButton(pg, kind, id, version, action, params, ask) {
  return callButton(pg, { verb: 'Delete', kind, id, ask: ask || '' }, version, action, params);
}

// loader fills a container from an async function, showing errors in alert.
async function fill(container, alert, fn) {
  try {
    const node = await fn();
    container.replaceChildren(node);
  } catch (err) {
    container.replaceChildren();
    alert.show(err);
  }
}

// datalist of IDs for inputs (VPCs, vSwitches, groups, instances).
async function idList(id, version, action, pick, params) {
  const dl = el('datalist', { id });
  try {
    const r = await call(version, action, Object.assign({ PageSize: 50 }, params || {}));
    for (const [value, label] of pick(r)) dl.append(el('option', { value }, label));
  } catch (_) { /* the list is only a help */ }
  return dl;
}
const vpcOptions = (r) => list(r.Vpcs && r.Vpcs.Vpc).map((v) => [v.VpcId, v.VpcName + ' ' + v.CidrBlock]);
const vswOptions = (r) => list(r.VSwitches && r.VSwitches.VSwitch).map((v) => [v.VSwitchId, v.VSwitchName + ' ' + v.CidrBlock]);
const sgOptions = (r) => list(r.SecurityGroups && r.SecurityGroups.SecurityGroup).map((g) => [g.SecurityGroupId, g.SecurityGroupName]);
const instOptions = (r) => list(r.Instances && r.Instances.Instance).map((i) => [i.InstanceId, i.InstanceName]);

// ---------- views ----------

async function viewVpcs() {
  const pg = page('VPCs');
  const tbl = listing(pg, async () => {
    const r = await call(V.VPC, 'DescribeVpcs', { PageSize: 50 });
    return table('VPCs (' + (r.TotalCount || 0) + ')', [
      ['VPC ID', (v) => v.VpcId], ['Name', (v) => v.VpcName], ['CIDR block', (v) => v.CidrBlock],
      ['Status', (v) => v.Status], ['Default', (v) => yes(v.IsDefault)], ['vSwitches', (v) => join(v.VSwitchIds && v.VSwitchIds.VSwitchId)],
      ['Created', (v) => v.CreationTime],
      ['', (v) => deleteButton(pg, 'VPC', v.VpcId, V.VPC, 'DeleteVpc', { VpcId: v.VpcId })],
    ], list(r.Vpcs && r.Vpcs.Vpc));
  });
  pg.body.append(el('h3', {}, 'Create VPC'), form('Create VPC', [
    { name: 'CidrBlock', label: 'CIDR block', required: true, placeholder: '10.0.0.0/16' },
    { name: 'VpcName', label: 'VPC name' },
    { name: 'Description', label: 'Description' },
  ], 'Create VPC', done(pg, async (v) => 'Created VPC ' + (await call(V.VPC, 'CreateVpc', v)).VpcId + '.'), pg.alert), tbl);
  await pg.load();
}

async function viewVSwitches() {
  const pg = page('vSwitches');
  const tbl = listing(pg, async () => {
    const r = await call(V.VPC, 'DescribeVSwitches', { PageSize: 50 });
    return table('vSwitches (' + (r.TotalCount || 0) + ')', [
      ['vSwitch ID', (v) => v.VSwitchId], ['Name', (v) => v.VSwitchName], ['VPC', (v) => v.VpcId],
      ['CIDR block', (v) => v.CidrBlock], ['Zone', (v) => v.ZoneId], ['Free IPs', (v) => v.AvailableIpAddressCount],
      ['Network ACL', (v) => v.NetworkAclId], ['Status', (v) => v.Status],
      ['', (v) => deleteButton(pg, 'vSwitch', v.VSwitchId, V.VPC, 'DeleteVSwitch', { VSwitchId: v.VSwitchId })],
    ], list(r.VSwitches && r.VSwitches.VSwitch));
  });
  pg.body.append(await idList('vpc-ids', V.VPC, 'DescribeVpcs', vpcOptions),
    el('h3', {}, 'Create vSwitch'), form('Create vSwitch', [
      { name: 'VpcId', label: 'VPC ID', required: true, list: 'vpc-ids' },
      { name: 'CidrBlock', label: 'CIDR block', required: true, placeholder: '10.0.1.0/24' },
      { name: 'ZoneId', label: 'Zone', value: state.who.RegionId + '-a' },
      { name: 'VSwitchName', label: 'vSwitch name' },
    ], 'Create vSwitch', done(pg, async (v) => 'Created vSwitch ' + (await call(V.VPC, 'CreateVSwitch', v)).VSwitchId + '.'),
    pg.alert), tbl);
  await pg.load();
}

function instanceIPs(i) {
  const a = i.VpcAttributes && i.VpcAttributes.PrivateIpAddress;
  return join(a && a.IpAddress);
}

// deleteInstanceButton: DeleteInstance takes a Stopped instance only, or
// any with Force=true; the confirmation says when it is forced.
function deleteInstanceButton(pg, i) {
  const stopped = i.Status === 'Stopped';
  return deleteButton(pg, 'instance', i.InstanceId, V.ECS, 'DeleteInstance',
    { InstanceId: i.InstanceId, Force: stopped ? '' : 'true' },
    stopped ? '' : 'It is ' + i.Status + ': it is deleted without stopping it first.');
}

async function viewInstances() {
  const pg = page('Instances');
  const tbl = listing(pg, async () => {
    const r = await call(V.ECS, 'DescribeInstances', { PageSize: 100 });
    return table('Instances (' + (r.TotalCount || 0) + ')', [
      ['Instance ID', (i) => i.InstanceId], ['Name', (i) => i.InstanceName], ['Status', (i) => i.Status],
      ['Zone', (i) => i.ZoneId], ['VPC', (i) => i.VpcAttributes && i.VpcAttributes.VpcId],
      ['vSwitch', (i) => i.VpcAttributes && i.VpcAttributes.VSwitchId], ['Private IPs', instanceIPs],
      ['Security groups', (i) => join(i.SecurityGroupIds && i.SecurityGroupIds.SecurityGroupId)],
      ['', (i) => el('span', { class: 'actions' },
        i.Status === 'Running' ? callButton(pg, { verb: 'Stop', past: 'Stopped', kind: 'instance', id: i.InstanceId }, V.ECS, 'StopInstance',
          { InstanceId: i.InstanceId }) : '',
        i.Status === 'Stopped' ? callButton(pg, { verb: 'Start', past: 'Started', kind: 'instance', id: i.InstanceId }, V.ECS, 'StartInstance',
          { InstanceId: i.InstanceId }) : '',
        deleteInstanceButton(pg, i))],
    ], list(r.Instances && r.Instances.Instance));
  });
  pg.body.append(await idList('vsw-ids', V.VPC, 'DescribeVSwitches', vswOptions),
    await idList('sg-ids', V.ECS, 'DescribeSecurityGroups', sgOptions),
    el('h3', {}, 'Run instance'), form('Run instance', [
      { name: 'VSwitchId', label: 'vSwitch ID', required: true, list: 'vsw-ids' },
      { name: 'SecurityGroupId', label: 'Security group ID', list: 'sg-ids', placeholder: 'the VPC default group' },
      { name: 'InstanceName', label: 'Instance name' },
      { name: 'PrivateIpAddress', label: 'Private IP', placeholder: 'any free address' },
      { name: 'ImageId', label: 'Image ID', value: 'ubuntu_24_04_x64', required: true },
      { name: 'InstanceType', label: 'Instance type', value: 'ecs.g7.large', required: true },
    ], 'Run instance', done(pg, async (v) => {
      const r = await call(V.ECS, 'RunInstances', v);
      return 'Started instance ' + join(r.InstanceIdSets && r.InstanceIdSets.InstanceIdSet) + '.';
    }), pg.alert), tbl);
  await pg.load();
}

async function viewENIs() {
  const pg = page('Network interfaces');
  const tbl = listing(pg, async () => {
    const r = await call(V.ECS, 'DescribeNetworkInterfaces', { PageSize: 100 });
    return table('Network interfaces (' + (r.TotalCount || 0) + ')', [
      ['ENI ID', (e) => e.NetworkInterfaceId], ['Name', (e) => e.NetworkInterfaceName], ['Type', (e) => e.Type],
      ['Status', (e) => e.Status], ['Instance', (e) => e.InstanceId], ['Private IP', (e) => e.PrivateIpAddress],
      ['Secondary IPs', (e) => list(e.PrivateIpSets && e.PrivateIpSets.PrivateIpSet).filter((x) => !x.Primary).map((x) => x.PrivateIpAddress).join(', ')],
      ['MAC', (e) => e.MacAddress], ['vSwitch', (e) => e.VSwitchId],
      ['Security groups', (e) => join(e.SecurityGroupIds && e.SecurityGroupIds.SecurityGroupId)],
      ['', (e) => e.Type !== 'Secondary' ? '' : el('span', { class: 'actions' },
        e.InstanceId
          ? callButton(pg, { verb: 'Detach', past: 'Detached', kind: 'network interface', id: e.NetworkInterfaceId }, V.ECS, 'DetachNetworkInterface',
            { NetworkInterfaceId: e.NetworkInterfaceId, InstanceId: e.InstanceId })
          : deleteButton(pg, 'network interface', e.NetworkInterfaceId, V.ECS, 'DeleteNetworkInterface',
            { NetworkInterfaceId: e.NetworkInterfaceId }))],
    ], list(r.NetworkInterfaceSets && r.NetworkInterfaceSets.NetworkInterfaceSet));
  });
  pg.body.append(await idList('vsw-ids', V.VPC, 'DescribeVSwitches', vswOptions),
    await idList('sg-ids', V.ECS, 'DescribeSecurityGroups', sgOptions),
    await idList('inst-ids', V.ECS, 'DescribeInstances', instOptions),
    el('h3', {}, 'Create network interface'), form('Create network interface', [
      { name: 'VSwitchId', label: 'vSwitch ID', required: true, list: 'vsw-ids' },
      { name: 'SecurityGroupId', label: 'Security group ID', required: true, list: 'sg-ids' },
      { name: 'NetworkInterfaceName', label: 'Interface name' },
      { name: 'PrimaryIpAddress', label: 'Primary IP', placeholder: 'any free address' },
    ], 'Create network interface', done(pg, async (v) =>
      'Created network interface ' + (await call(V.ECS, 'CreateNetworkInterface', v)).NetworkInterfaceId + '.'), pg.alert),
    el('h3', {}, 'Attach to an instance'), form('Attach network interface', [
      { name: 'NetworkInterfaceId', label: 'Interface ID', required: true },
      { name: 'InstanceId', label: 'Instance ID', required: true, list: 'inst-ids' },
    ], 'Attach', done(pg, async (v) => {
      await call(V.ECS, 'AttachNetworkInterface', v);
      return 'Attached ' + v.NetworkInterfaceId + ' to ' + v.InstanceId + '.';
    }), pg.alert),
    el('h3', {}, 'Secondary private IPs'), form('Secondary private IPs', [
      { name: 'NetworkInterfaceId', label: 'ENI ID', required: true },
      { name: 'Address', label: 'Address', placeholder: 'any free address (assign)' },
      { name: 'Op', label: 'Change', type: 'select', options: [['assign', 'Assign'], ['unassign', 'Unassign']] },
    ], 'Change IPs', done(pg, async (v) => {
      const p = { NetworkInterfaceId: v.NetworkInterfaceId };
      if (v.Address) p['PrivateIpAddress.1'] = v.Address;
      else if (v.Op === 'assign') p.SecondaryPrivateIpAddressCount = 1;
      if (v.Op === 'assign') {
        const r = await call(V.ECS, 'AssignPrivateIpAddresses', p);
        const got = list(r.AssignedPrivateIpAddressesSet && r.AssignedPrivateIpAddressesSet.PrivateIpSet &&
          r.AssignedPrivateIpAddressesSet.PrivateIpSet.PrivateIpAddress);
        return 'Assigned ' + (got.length ? got.join(', ') : v.Address) + ' to ' + v.NetworkInterfaceId + '.';
      }
      await call(V.ECS, 'UnassignPrivateIpAddresses', p);
      return 'Unassigned ' + v.Address + ' from ' + v.NetworkInterfaceId + '.';
    }), pg.alert),
    el('p', { class: 'muted' }, 'A secondary interface is made in a vSwitch with its security groups, then attached to an instance of ' +
      'the vSwitch\'s zone; an attached one is detached before it can be deleted. Primary interfaces go with their instance.'),
    tbl);
  await pg.load();
}

async function viewSecurityGroups() {
  const pg = page('Security groups');
  const tbl = listing(pg, async () => {
    const r = await call(V.ECS, 'DescribeSecurityGroups', { PageSize: 50 });
    return table('Security groups (' + (r.TotalCount || 0) + ')', [
      ['Group ID', (g) => link('#/security-groups/' + encodeURIComponent(g.SecurityGroupId), g.SecurityGroupId)],
      ['Name', (g) => g.SecurityGroupName], ['VPC', (g) => g.VpcId], ['Type', (g) => g.SecurityGroupType],
      ['Instances', (g) => g.EcsCount], ['Description', (g) => g.Description],
      ['', (g) => deleteButton(pg, 'security group', g.SecurityGroupId, V.ECS, 'DeleteSecurityGroup', { SecurityGroupId: g.SecurityGroupId })],
    ], list(r.SecurityGroups && r.SecurityGroups.SecurityGroup));
  });
  pg.body.append(await idList('vpc-ids', V.VPC, 'DescribeVpcs', vpcOptions),
    el('h3', {}, 'Create security group'), form('Create security group', [
      { name: 'VpcId', label: 'VPC ID', required: true, list: 'vpc-ids' },
      { name: 'SecurityGroupName', label: 'Group name' },
      { name: 'Description', label: 'Description' },
    ], 'Create security group', done(pg, async (v) =>
      'Created security group ' + (await call(V.ECS, 'CreateSecurityGroup', v)).SecurityGroupId + '.'), pg.alert), tbl);
  await pg.load();
}

async function viewSecurityGroup(id) {
  const pg = page('Security group ' + id);
  const tbl = listing(pg, async () => {
    const r = await call(V.ECS, 'DescribeSecurityGroupAttribute', { SecurityGroupId: id });
    const m = await call(V.ECS, 'DescribeInstances', { SecurityGroupId: id, PageSize: 100 });
    const refs = await call(V.ECS, 'DescribeSecurityGroupReferences', { 'SecurityGroupId.1': id });
    const by = list(refs.SecurityGroupReferences && refs.SecurityGroupReferences.SecurityGroupReference)
      .flatMap((x) => list(x.ReferencingSecurityGroups && x.ReferencingSecurityGroups.ReferencingSecurityGroup))
      .map((g) => g.SecurityGroupId);
    const perms = list(r.Permissions && r.Permissions.Permission);
    const members = list(m.Instances && m.Instances.Instance);
    const peer = (p) => p.Direction === 'egress'
      ? (p.DestCidrIp || p.Ipv6DestCidrIp || p.DestGroupId || p.DestPrefixListId)
      : (p.SourceCidrIp || p.Ipv6SourceCidrIp || p.SourceGroupId || p.SourcePrefixListId);
    return el('div', {},
      el('p', {}, 'Name: ', r.SecurityGroupName || '', ' · VPC: ', r.VpcId || '', ' · Inner access: ', r.InnerAccessPolicy || ''),
      el('p', { id: 'sg-referenced-by' }, 'Referenced by the rules of: ', by.length ? by.join(', ') : 'no group'),
      table('Rules (' + perms.length + ')', [
        ['Rule ID', (p) => p.SecurityGroupRuleId], ['Direction', (p) => p.Direction], ['Policy', (p) => p.Policy],
        ['Priority', (p) => p.Priority], ['Protocol', (p) => p.IpProtocol], ['Port range', (p) => p.PortRange],
        ['Peer', peer], ['Description', (p) => p.Description],
        ['', (p) => callButton(pg, { verb: 'Revoke', kind: 'rule', id: p.SecurityGroupRuleId, danger: true }, V.ECS,
          p.Direction === 'egress' ? 'RevokeSecurityGroupEgress' : 'RevokeSecurityGroup',
          { SecurityGroupId: id, 'SecurityGroupRuleId.1': p.SecurityGroupRuleId })],
      ], perms),
      table('Member instances (' + members.length + ')', [
        ['Instance ID', (i) => i.InstanceId], ['Name', (i) => i.InstanceName], ['Status', (i) => i.Status],
        ['Private IPs', instanceIPs], ['Security groups', (i) => join(i.SecurityGroupIds && i.SecurityGroupIds.SecurityGroupId)],
        ['', (i) => callButton(pg, { verb: 'Remove', kind: 'instance', id: i.InstanceId }, V.ECS, 'LeaveSecurityGroup',
          { SecurityGroupId: id, InstanceId: i.InstanceId })],
      ], members));
  });
  pg.body.append(el('p', {}, link('#/security-groups', '← All security groups')),
    await idList('inst-ids', V.ECS, 'DescribeInstances', instOptions, { PageSize: 100 }),
    el('h3', {}, 'Inner access policy'), form('Change the inner access policy', [
      { name: 'InnerAccessPolicy', label: 'Inner access policy', type: 'select', options: ['Accept', 'Drop'] },
    ], 'Change policy', done(pg, async (v) => {
      await call(V.ECS, 'ModifySecurityGroupPolicy', { SecurityGroupId: id, InnerAccessPolicy: v.InnerAccessPolicy });
      return 'Inner access policy set to ' + v.InnerAccessPolicy + '.';
    }), pg.alert),
    el('h3', {}, 'Add an instance'), form('Add an instance', [
      { name: 'InstanceId', label: 'Instance ID', required: true, list: 'inst-ids' },
    ], 'Add instance', done(pg, async (v) => {
      await call(V.ECS, 'JoinSecurityGroup', { SecurityGroupId: id, InstanceId: v.InstanceId });
      return 'Added instance ' + v.InstanceId + ' to ' + id + '.';
    }), pg.alert),
    el('h3', {}, 'Authorize rule'), form('Authorize rule', [
      { name: 'Direction', label: 'Direction', type: 'select', options: [['ingress', 'Ingress'], ['egress', 'Egress']] },
      { name: 'IpProtocol', label: 'Protocol', type: 'select', options: ['TCP', 'UDP', 'ICMP', 'ICMPv6', 'GRE', 'ALL'] },
      { name: 'PortRange', label: 'Port range', placeholder: '22/22', required: true },
      { name: 'Cidr', label: 'CIDR', placeholder: '0.0.0.0/0' },
      { name: 'PeerGroup', label: 'or security group', placeholder: 'sg-… (instead of a CIDR)' },
      { name: 'Policy', label: 'Policy', type: 'select', options: [['accept', 'Accept'], ['drop', 'Drop']] },
      { name: 'Priority', label: 'Priority', type: 'number', value: '1' },
      { name: 'Description', label: 'Rule description' },
    ], 'Authorize', done(pg, async (v) => {
      const egress = v.Direction === 'egress';
      const p = { SecurityGroupId: id };
      const set = (k, val) => { p['Permissions.1.' + k] = val; };
      set('IpProtocol', v.IpProtocol);
      set('PortRange', v.PortRange);
      if (v.PeerGroup) {
        set(egress ? 'DestGroupId' : 'SourceGroupId', v.PeerGroup);
      } else {
        const v6 = v.Cidr.includes(':');
        set(egress ? (v6 ? 'Ipv6DestCidrIp' : 'DestCidrIp') : (v6 ? 'Ipv6SourceCidrIp' : 'SourceCidrIp'), v.Cidr);
      }
      set('Policy', v.Policy);
      set('Priority', v.Priority);
      set('Description', v.Description);
      await call(V.ECS, egress ? 'AuthorizeSecurityGroupEgress' : 'AuthorizeSecurityGroup', p);
      return 'Authorized the ' + v.Direction + ' rule.';
    }), pg.alert), tbl);
  await pg.load();
}

// ACL entry lists by direction: the response's wrapper and item names, the
// peer field and UpdateNetworkAclEntries' flag.
const ACL_DIRS = {
  ingress: { list: 'IngressAclEntries', item: 'IngressAclEntry', peer: 'SourceCidrIp', flag: 'UpdateIngressAclEntries' },
  egress: { list: 'EgressAclEntries', item: 'EgressAclEntry', peer: 'DestinationCidrIp', flag: 'UpdateEgressAclEntries' },
};

function aclDirEntries(a, dir) {
  const d = ACL_DIRS[dir];
  return list(a[d.list] && a[d.list][d.item]);
}

function aclEntries(a, dir) {
  return el('ul', {}, aclDirEntries(a, dir).map((e) => el('li', {},
    (e.NetworkAclEntryName || e.NetworkAclEntryId) + ': ' + e.Policy + ' ' + e.Protocol + ' ' + e.Port + ' ' + e[ACL_DIRS[dir].peer])));
}

// editAclEntries changes one direction's entries of ACL id: change gets
// the current list and returns the new one. UpdateNetworkAclEntries
// replaces the whole list (its order is the priority), so the request
// carries every entry that stays, with its ID.
async function editAclEntries(id, dir, change) {
  const d = ACL_DIRS[dir];
  const r = await call(V.VPC, 'DescribeNetworkAclAttributes', { NetworkAclId: id });
  const entries = change(aclDirEntries(r.NetworkAclAttribute || {}, dir));
  const p = { NetworkAclId: id, [d.flag]: 'true' };
  entries.forEach((e, i) => {
    for (const k of ['NetworkAclEntryId', 'NetworkAclEntryName', 'Description', 'Policy', 'Protocol', 'Port', d.peer]) {
      p[d.list + '.' + (i + 1) + '.' + k] = e[k];
    }
  });
  return call(V.VPC, 'UpdateNetworkAclEntries', p);
}

async function viewACLs() {
  const pg = page('Network ACLs');
  const tbl = listing(pg, async () => {
    const r = await call(V.VPC, 'DescribeNetworkAcls', { PageSize: 50 });
    return table('Network ACLs (' + (r.TotalCount || 0) + ')', [
      ['ACL ID', (a) => link('#/network-acls/' + encodeURIComponent(a.NetworkAclId), a.NetworkAclId)],
      ['Name', (a) => a.NetworkAclName], ['VPC', (a) => a.VpcId], ['Status', (a) => a.Status],
      ['vSwitches', (a) => list(a.Resources && a.Resources.Resource).map((x) => x.ResourceId).join(', ')],
      ['Ingress entries', (a) => aclEntries(a, 'ingress')], ['Egress entries', (a) => aclEntries(a, 'egress')],
      ['', (a) => deleteButton(pg, 'network ACL', a.NetworkAclId, V.VPC, 'DeleteNetworkAcl', { NetworkAclId: a.NetworkAclId })],
    ], list(r.NetworkAcls && r.NetworkAcls.NetworkAcl));
  });
  pg.body.append(await idList('vpc-ids', V.VPC, 'DescribeVpcs', vpcOptions),
    el('h3', {}, 'Create network ACL'), form('Create network ACL', [
      { name: 'VpcId', label: 'VPC ID', required: true, list: 'vpc-ids' },
      { name: 'NetworkAclName', label: 'ACL name' },
      { name: 'Description', label: 'Description' },
    ], 'Create network ACL', done(pg, async (v) =>
      'Created network ACL ' + (await call(V.VPC, 'CreateNetworkAcl', v)).NetworkAclId + '.'), pg.alert),
    el('p', { class: 'muted' }, 'A network ACL with no entries denies all the traffic it filters once a vSwitch is associated with it.'),
    tbl);
  await pg.load();
}

async function viewACL(id) {
  const pg = page('Network ACL ' + id);
  let vpcId = '';
  const entryTable = (a, dir) => table(dir[0].toUpperCase() + dir.slice(1) + ' entries, in priority order', [
    ['Entry ID', (e) => e.NetworkAclEntryId], ['Name', (e) => e.NetworkAclEntryName], ['Policy', (e) => e.Policy],
    ['Protocol', (e) => e.Protocol], ['Port', (e) => e.Port], [dir === 'ingress' ? 'Source' : 'Destination', (e) => e[ACL_DIRS[dir].peer]],
    ['Description', (e) => e.Description],
    ['', (e) => actionButton(pg, { verb: 'Remove', kind: 'entry', id: e.NetworkAclEntryName || e.NetworkAclEntryId, ask: '' },
      () => editAclEntries(id, dir, (es) => es.filter((x) => x.NetworkAclEntryId !== e.NetworkAclEntryId)))],
  ], aclDirEntries(a, dir));
  const tbl = listing(pg, async () => {
    const a = (await call(V.VPC, 'DescribeNetworkAclAttributes', { NetworkAclId: id })).NetworkAclAttribute || {};
    vpcId = a.VpcId || '';
    return el('div', {},
      el('p', {}, 'Name: ', a.NetworkAclName || '', ' · VPC: ', vpcId, ' · Status: ', a.Status || ''),
      table('Associated vSwitches', [
        ['vSwitch ID', (x) => x.ResourceId], ['Status', (x) => x.Status],
        ['', (x) => callButton(pg, { verb: 'Unassociate', kind: 'vSwitch', id: x.ResourceId }, V.VPC, 'UnassociateNetworkAcl',
          { NetworkAclId: id, 'Resource.1.ResourceId': x.ResourceId, 'Resource.1.ResourceType': 'VSwitch' })],
      ], list(a.Resources && a.Resources.Resource)),
      entryTable(a, 'ingress'), entryTable(a, 'egress'));
  });
  await pg.load();
  pg.body.append(el('p', {}, link('#/network-acls', '← All network ACLs')),
    await idList('vsw-ids', V.VPC, 'DescribeVSwitches', vswOptions, { VpcId: vpcId }),
    el('h3', {}, 'Associate a vSwitch'), form('Associate a vSwitch', [
      { name: 'VSwitchId', label: 'vSwitch ID', required: true, list: 'vsw-ids' },
    ], 'Associate vSwitch', done(pg, async (v) => {
      await call(V.VPC, 'AssociateNetworkAcl', { NetworkAclId: id, 'Resource.1.ResourceId': v.VSwitchId, 'Resource.1.ResourceType': 'VSwitch' });
      return 'Associated vSwitch ' + v.VSwitchId + ' with ' + id + '.';
    }), pg.alert),
    el('h3', {}, 'Add entry'), form('Add entry', [
      { name: 'Direction', label: 'Direction', type: 'select', options: [['ingress', 'Ingress'], ['egress', 'Egress']] },
      { name: 'Policy', label: 'Policy', type: 'select', options: [['accept', 'Accept'], ['drop', 'Drop']] },
      { name: 'Protocol', label: 'Protocol', type: 'select', options: ['tcp', 'udp', 'icmp', 'gre', 'all'] },
      { name: 'Port', label: 'Port range', placeholder: '22/22 (-1/-1 for icmp, gre, all)' },
      { name: 'Cidr', label: 'CIDR', required: true, placeholder: '0.0.0.0/0' },
      { name: 'NetworkAclEntryName', label: 'Entry name' },
      { name: 'Description', label: 'Entry description' },
      { name: 'Position', label: 'Position', type: 'number', placeholder: 'last' },
    ], 'Add entry', done(pg, async (v) => {
      const entry = { NetworkAclEntryName: v.NetworkAclEntryName, Description: v.Description, Policy: v.Policy,
        Protocol: v.Protocol, Port: v.Port, [ACL_DIRS[v.Direction].peer]: v.Cidr };
      await editAclEntries(id, v.Direction, (es) => {
        const at = v.Position ? Math.max(0, Number(v.Position) - 1) : es.length;
        return es.slice(0, at).concat([entry], es.slice(at));
      });
      return 'Added the ' + v.Direction + ' entry ' + (v.NetworkAclEntryName || '') + '.';
    }), pg.alert), tbl);
}

async function viewEIPs() {
  const pg = page('EIPs');
  const tbl = listing(pg, async () => {
    const r = await call(V.VPC, 'DescribeEipAddresses', { PageSize: 50 });
    return table('EIPs (' + (r.TotalCount || 0) + ')', [
      ['Allocation ID', (e) => e.AllocationId], ['IP address', (e) => e.IpAddress], ['Name', (e) => e.Name],
      ['Status', (e) => e.Status], ['Bound to', (e) => e.InstanceId ? e.InstanceType + ' ' + e.InstanceId : ''],
      ['Private IP', (e) => e.PrivateIpAddress], ['Bandwidth (Mbit/s)', (e) => e.Bandwidth],
      ['', (e) => e.InstanceId
        ? callButton(pg, { verb: 'Unassociate', kind: 'EIP', id: e.AllocationId }, V.VPC, 'UnassociateEipAddress',
          { AllocationId: e.AllocationId, InstanceId: e.InstanceId })
        : callButton(pg, { verb: 'Release', kind: 'EIP', id: e.AllocationId, ask: 'Its address ' + e.IpAddress + ' goes back to the pool.' },
          V.VPC, 'ReleaseEipAddress', { AllocationId: e.AllocationId })],
    ], list(r.EipAddresses && r.EipAddresses.EipAddress));
  });
  pg.body.append(await idList('inst-ids', V.ECS, 'DescribeInstances', instOptions, { PageSize: 100 }),
    el('h3', {}, 'Allocate EIP'), form('Allocate EIP', [
      { name: 'Name', label: 'EIP name' },
      { name: 'Bandwidth', label: 'Bandwidth (Mbit/s)', type: 'number', value: '5' },
    ], 'Allocate EIP', done(pg, async (v) => {
      const r = await call(V.VPC, 'AllocateEipAddress', v);
      return 'Allocated EIP ' + r.AllocationId + ' (' + r.EipAddress + ').';
    }), pg.alert),
    el('h3', {}, 'Associate EIP'), form('Associate EIP', [
      { name: 'AllocationId', label: 'Allocation ID', required: true },
      { name: 'InstanceId', label: 'Instance ID', required: true, list: 'inst-ids', placeholder: 'i-…, eni-… or ngw-…' },
    ], 'Associate EIP', done(pg, async (v) => {
      await call(V.VPC, 'AssociateEipAddress', v);
      return 'Associated EIP ' + v.AllocationId + ' with ' + v.InstanceId + '.';
    }), pg.alert), tbl);
  await pg.load();
}

function endpoint(e) {
  if (!e) return '';
  if (e.Kind === 'eni') {
    let s = (e.Instance ? e.Instance + '/' : '') + e.ENI + ' (' + e.Address;
    if (e.PublicIP) s += ', EIP ' + e.PublicIP;
    return s + ')';
  }
  if (e.Kind === 'internet' || e.Kind === 'service') return e.Kind + ' ' + (e.Range || e.Address);
  return e.Address + (e.VPC ? ' in ' + e.VPC : '');
}

// ruleText names the rule or entry a trace step was decided by.
function ruleText(s) {
  return [s.GroupID, s.RuleID, s.ACLID, s.EntryName, s.Priority ? 'priority ' + s.Priority : '', s.Action].filter(Boolean).join(' · ');
}

function stepTable(caption, steps) {
  return table(caption, [
    ['Point', (s) => s.Point], ['Resource', (s) => s.Resource],
    ['Result', (s) => el('span', { class: s.Allow ? 'allow' : 'deny' }, s.Allow ? 'allow' : 'deny')],
    ['Decided by', (s) => s.DecidedBy], ['Rule', ruleText], ['Detail', (s) => s.Detail],
  ], list(steps));
}

// decidingStep is the step that decides a path: the first that denies it
// (reply included), else the destination's security group step.
function decidingStep(p) {
  const steps = list(p.Steps).concat(list(p.Reply));
  return steps.find((s) => !s.Allow) || steps.find((s) => s.Point === 'sg-ingress');
}

function bullets(title, items) {
  return list(items).length ? [el('h3', {}, title), el('ul', {}, list(items).map((n) => el('li', {}, n)))] : [];
}

// reachResult shows an AnalyzeReachability answer: the verdict (in an
// element with id verdictId, headed by title), the changes it assumes,
// its notes and the rule trace of each path.
function reachResult(r, verdictId, title) {
  const verdict = String(r.Verdict || (r.Reachable ? 'reachable' : 'unreachable'));
  const out = el('div', {}, el('p', {}, title + ': ', el('span', { class: 'verdict ' + verdict, id: verdictId }, verdict)),
    el('p', { class: 'muted' }, r.From + ' → ' + r.To + ' ' + r.Protocol + (r.Port ? ' port ' + r.Port : '')),
    bullets('Assuming (not applied)', r.WhatIf), bullets('Notes', r.Notes)); // el flattens arrays
  list(r.Paths).forEach((p, i) => {
    const d = decidingStep(p);
    out.append(el('h3', {}, 'Path ' + (i + 1) + ': ' + endpoint(p.From) + ' → ' + endpoint(p.To) + ' — ' +
      (p.Reachable ? 'reachable' : 'unreachable')),
    el('p', { class: 'muted' }, p.Packet || ''),
    d ? el('p', { class: 'decided' }, 'Decided by: ' + [d.Point, d.Resource, ruleText(d), d.Detail].filter(Boolean).join(' · ')) : null,
    stepTable('Rule trace (first packet)', p.Steps));
    if (list(p.Reply).length) out.append(stepTable('Rule trace (reply)', p.Reply));
  });
  return out;
}

const REACH_FIELDS = [
  { name: 'From', label: 'From (A)', required: true, list: 'inst-ids' },
  { name: 'To', label: 'To (B)', required: true, list: 'inst-ids' },
  { name: 'Protocol', label: 'Protocol', type: 'select', options: ['tcp', 'udp', 'icmp', 'icmpv6', 'gre'] },
  { name: 'Port', label: 'Port', placeholder: '443' },
];
const REACH_HELP = 'From and To: an instance ID, an ENI ID, an IP address or a CIDR (an address outside every VPC is the internet).';

function reach(params) {
  return call(V.PALISADE, 'AnalyzeReachability', params);
}

async function viewReach() {
  const { alert, body } = page('Can A reach B?');
  const out = el('div', { id: 'reach-result' });
  body.append(await idList('inst-ids', V.ECS, 'DescribeInstances', instOptions, { PageSize: 100 }),
    el('p', { class: 'muted' }, REACH_HELP),
    form('Reachability', REACH_FIELDS, 'Analyze', async (v) => {
      out.replaceChildren();
      out.append(reachResult(await reach(v), 'verdict', 'Verdict'));
    }, alert), out);
}

// Matrix cells (analysis.Cell*): the text shown and what it means.
const MATRIX_CELLS = {
  Y: ['reachable', 'allow', 'the flow opens and its replies pass'],
  4: ['IPv4 only', 'allow', 'reachable over IPv4 only: IPv6 is blocked'],
  6: ['IPv6 only', 'allow', 'reachable over IPv6 only: IPv4 is blocked'],
  '.': ['blocked', 'deny', 'the first packet is dropped'],
  r: ['one-way', 'deny', 'the first packet passes, the replies are dropped'],
};

// portParams reads a matrix port ("tcp:22", "icmp") as reachability
// parameters.
function portParams(port) {
  const [Protocol, Port] = port.split(':');
  return { Protocol, Port };
}

async function viewMatrix() {
  const { alert, body } = page('Reachability matrix');
  const out = el('div', { id: 'matrix-result' });
  const detail = el('div', { id: 'matrix-detail' });
  // why shows the rule trace of one cell.
  const why = async (from, to, port) => {
    clearMessages(alert);
    detail.replaceChildren(el('p', { class: 'muted' }, 'Analyzing ' + from + ' → ' + to + ' on ' + port + '…'));
    try {
      const r = await reach(Object.assign({ From: from, To: to }, portParams(port)));
      detail.replaceChildren(el('h3', {}, 'Why: ' + from + ' → ' + to + ' on ' + port), reachResult(r, 'cell-verdict', 'Verdict'));
    } catch (err) {
      detail.replaceChildren();
      alert.show(err);
    }
  };
  const cell = (from, to, port, c) => {
    if (c === '-') return el('span', { class: 'muted' }, '—');
    const [text, cls, meaning] = MATRIX_CELLS[c] || [c, '', 'unknown'];
    const what = from + ' → ' + to + ' on ' + port;
    return el('button', { type: 'button', class: 'cell ' + cls, 'aria-label': what, title: what + ': ' + meaning + '. Select it for the deciding rules.',
      onclick: () => why(from, to, port) }, text);
  };
  body.append(await idList('vpc-ids', V.VPC, 'DescribeVpcs', vpcOptions),
    el('p', { class: 'muted' }, 'Every instance of a VPC against every other, for each port (rows: sources; columns: destinations). ' +
      'Select a cell for the rules that decide it. With peered VPCs, the instances of the VPCs joined to it by an Activated ' +
      'peering connection are added (your account\'s VPCs only; another account\'s instances are not shown): a cell between ' +
      'two VPCs also needs a route entry on each side and the VPC firewall\'s consent.'),
    form('Reachability matrix', [
      { name: 'VpcId', label: 'VPC ID', required: true, list: 'vpc-ids' },
      { name: 'Ports', label: 'Ports', placeholder: '22,443,udp:53,icmp (default: tcp 22, 80, 443, 5432)' },
      { name: 'IncludePeers', label: 'Include peered VPCs', type: 'checkbox' },
    ], 'Show matrix', async (v) => {
      out.replaceChildren();
      detail.replaceChildren();
      const r = await call(V.PALISADE, 'AnalyzeMatrix', v);
      const insts = list(r.Instances);
      // With peered VPCs each instance names its VPC.
      const multi = list(r.PeerVpcIDs).length > 0;
      const label = (i) => i.Instance + (i.Name ? ' ' + i.Name : '') + ' (' + i.Address + (multi && i.VpcID ? ', ' + i.VpcID : '') + ')';
      const byId = Object.fromEntries(insts.map((i) => [i.Instance, i]));
      out.append(el('p', { class: 'muted' }, 'Reachable cells: ' + r.Reachable + '.' +
        (multi ? ' VPCs: ' + [r.VpcID].concat(r.PeerVpcIDs).join(', ') + '.' : '')),
        ...bullets('Notes', r.Notes),
        ...list(r.Ports).map((port, k) => table('Port ' + port, [
          ['From \\ To', (row) => label(byId[row.Instance] || { Instance: row.Instance })],
          ...insts.map((dst, j) => [label(dst), (row) => cell(row.Instance, dst.Instance, port, (row.Cells[k] || '')[j])]),
        ], list(r.Rows))));
    }, alert), out, detail);
}

async function viewWhatIf() {
  const { alert, body } = page('What if');
  const out = el('div', { id: 'whatif-result' });
  body.append(await idList('inst-ids', V.ECS, 'DescribeInstances', instOptions, { PageSize: 100 }),
    await idList('sg-ids', V.ECS, 'DescribeSecurityGroups', sgOptions),
    el('p', { class: 'muted' }, 'Would A reach B after a proposed security group change? The change is assumed, not applied. ' + REACH_HELP),
    form('What if', REACH_FIELDS.concat([
      { name: 'Action', label: 'Proposed change', type: 'select', options: [['add', 'Add a rule'], ['remove', 'Remove a rule']] },
      { name: 'SecurityGroupId', label: 'Security group ID', required: true, list: 'sg-ids' },
      { name: 'RuleId', label: 'Rule ID (to remove)', placeholder: 'sgr-…' },
      { name: 'Direction', label: 'Direction', type: 'select', options: [['ingress', 'Ingress'], ['egress', 'Egress']] },
      { name: 'IpProtocol', label: 'Rule protocol', type: 'select', options: ['tcp', 'udp', 'icmp', 'icmpv6', 'gre', 'all'] },
      { name: 'PortRange', label: 'Rule port range', placeholder: '22/22' },
      { name: 'PeerCidrIp', label: 'Peer CIDR', placeholder: 'source (ingress) or destination (egress)' },
      { name: 'Policy', label: 'Rule policy', type: 'select', options: [['accept', 'Accept'], ['drop', 'Drop']] },
      { name: 'Priority', label: 'Rule priority', type: 'number', value: '1' },
    ]), 'Compare', async (v) => {
      out.replaceChildren();
      const change = { Action: v.Action, SecurityGroupId: v.SecurityGroupId };
      if (v.Action === 'remove') change.RuleId = v.RuleId;
      else {
        Object.assign(change, { Direction: v.Direction, IpProtocol: v.IpProtocol, PortRange: v.PortRange, Policy: v.Policy, Priority: v.Priority });
        change[v.PeerCidrIp.includes(':') ? 'Ipv6PeerCidrIp' : 'PeerCidrIp'] = v.PeerCidrIp;
      }
      for (const k of Object.keys(change)) if (!change[k]) delete change[k];
      const q = { From: v.From, To: v.To, Protocol: v.Protocol, Port: v.Port };
      const [before, after] = await Promise.all([reach(q), reach(Object.assign({ Changes: JSON.stringify([change]) }, q))]);
      out.append(el('section', { 'aria-label': 'Before' }, reachResult(before, 'verdict-before', 'Now')),
        el('section', { 'aria-label': 'After' }, reachResult(after, 'verdict-after', 'After the change')));
    }, alert), out);
}

// latest wraps an async fn so that only the answer of its latest call is
// used (a slow earlier answer does not overwrite a newer one).
function latest(fn, use) {
  let seq = 0;
  return async (v) => {
    const n = ++seq;
    const r = await fn(v);
    if (n === seq) use(r);
  };
}

async function viewAudit() {
  const { alert, body } = page('Security audit');
  const out = el('div', { id: 'audit-result' });
  const f = form('Security audit', [
    { name: 'VpcId', label: 'VPC ID', list: 'vpc-ids', placeholder: 'every VPC of the account' },
  ], 'Audit', latest((v) => call(V.PALISADE, 'AuditSecurity', v), (r) => {
    const findings = list(r.Findings);
    out.replaceChildren(el('p', {}, 'High ' + r.High + ' · medium ' + r.Medium + ' · low ' + r.Low + ' — checked ' + r.Groups +
      ' security groups, ' + r.Rules + ' rules, ' + r.ENIs + ' network interfaces and ' + r.ACLs + ' network ACLs.'),
    table('Findings (' + findings.length + ')', [
      ['Severity', (x) => el('span', { class: 'sev-' + x.Severity }, x.Severity)], ['Finding', (x) => x.Code],
      ['Resource', (x) => x.Resource], ['Rule', (x) => x.Rule], ['What is exposed, and why', (x) => x.Message], ['Fix', (x) => x.Fix],
    ], findings));
  }), alert);
  body.append(await idList('vpc-ids', V.VPC, 'DescribeVpcs', vpcOptions),
    el('p', { class: 'muted' }, 'Security groups, network ACLs and network interfaces checked for exposure and for rules that never decide anything.'),
    f, out);
  f.requestSubmit();
}

// statusButton switches a resource on or off: verbs (on, off) as
// actionButton's, each with its action.
function statusButton(pg, kind, id, isOn, [onVerb, onAction], [offVerb, offAction], version, params) {
  return isOn
    ? callButton(pg, { verb: offVerb, kind, id }, version, offAction, params)
    : callButton(pg, { verb: onVerb, kind, id }, version, onAction, params);
}

async function viewFlowLogs() {
  const pg = page('Flow logs');
  const recs = el('div');
  const top = el('div');
  const logs = listing(pg, async () => {
    const r = await call(V.VPC, 'DescribeFlowLogs', { PageSize: 50 });
    return table('Flow logs (' + (r.TotalCount || 0) + ')', [
      ['Flow log ID', (f) => f.FlowLogId], ['Name', (f) => f.FlowLogName], ['Resource', (f) => f.ResourceType + ' ' + f.ResourceId],
      ['Traffic', (f) => f.TrafficType], ['Path', (f) => list(f.TrafficPath && f.TrafficPath.TrafficPathList).join(', ')],
      ['Status', (f) => f.Status], ['Description', (f) => f.Description],
      ['', (f) => el('span', { class: 'actions' },
        statusButton(pg, 'flow log', f.FlowLogId, f.Status === 'Active', ['Activate', 'ActiveFlowLog'], ['Deactivate', 'DeactiveFlowLog'],
          V.VPC, { FlowLogId: f.FlowLogId }),
        deleteButton(pg, 'flow log', f.FlowLogId, V.VPC, 'DeleteFlowLog', { FlowLogId: f.FlowLogId }))],
    ], list(r.FlowLogs && r.FlowLogs.FlowLog));
  });
  pg.body.append(logs, await idList('vsw-ids', V.VPC, 'DescribeVSwitches', vswOptions),
    el('h3', {}, 'Create flow log'), form('Create flow log', [
      { name: 'ResourceType', label: 'Resource type', type: 'select', options: ['VSwitch', 'VPC', 'NetworkInterface'] },
      { name: 'ResourceId', label: 'Resource ID', required: true, list: 'vsw-ids', placeholder: 'vsw-…, vpc-… or eni-…' },
      { name: 'TrafficType', label: 'Traffic type', type: 'select', options: [['All', 'All'], ['Allow', 'Accepted'], ['Drop', 'Rejected']] },
      { name: 'TrafficPath.1', label: 'Traffic path', type: 'select', options: [['all', 'All'], ['internetGateway', 'With the internet only']] },
      { name: 'ProjectName', label: 'Project name', required: true, value: 'flow-project' },
      { name: 'LogStoreName', label: 'Logstore name', required: true, value: 'flow_store' },
      { name: 'FlowLogName', label: 'Flow log name' },
      { name: 'Description', label: 'Description' },
    ], 'Create flow log', done(pg, async (v) => 'Created flow log ' + (await call(V.VPC, 'CreateFlowLog', v)).FlowLogId + '.'), pg.alert),
    el('h3', {}, 'Records'), form('Flow-log records', [
      { name: 'FlowLogId', label: 'Flow log ID' },
      { name: 'EniId', label: 'ENI ID' },
      { name: 'SrcAddr', label: 'Source address' },
      { name: 'DstAddr', label: 'Destination address' },
      { name: 'Port', label: 'Port' },
      { name: 'RecordAction', label: 'Action', type: 'select', options: [['', 'any'], ['ACCEPT', 'ACCEPT'], ['REJECT', 'REJECT']] },
      { name: 'Since', label: 'Since', placeholder: '1h or 2026-11-25T12:00:00Z' },
    ], 'Search', async (v) => {
      const r = await call(V.PALISADE, 'DescribeFlowLogRecords', Object.assign({ PageSize: 100 }, v));
      recs.replaceChildren(table('Records (' + (r.TotalCount || 0) + ')', [
        ['Start', (x) => unixTime(x.start)], ['Flow log', (x) => x['flow-log-id']], ['ENI', (x) => x['eni-id']],
        ['Direction', (x) => x.direction], ['Source', (x) => x.srcaddr + ':' + x.srcport],
        ['Destination', (x) => x.dstaddr + ':' + x.dstport], ['Protocol', (x) => x.protocol],
        ['Packets', (x) => x.packets], ['Bytes', (x) => x.bytes], ['Action', (x) => x.action], ['Status', (x) => x['log-status']],
      ], list(r.Records && r.Records.Record)));
    }, pg.alert), recs,
    el('h3', {}, 'Top talkers'), form('Top talkers', [
      { name: 'FlowLogId', label: 'Of flow log', placeholder: 'all of them' },
      { name: 'VpcId', label: 'In VPC' },
      { name: 'RecordAction', label: 'Traffic', type: 'select', options: [['', 'any'], ['ACCEPT', 'accepted'], ['REJECT', 'rejected']] },
      { name: 'By', label: 'Ranked by', type: 'select', options: ['bytes', 'packets', 'flows'] },
      { name: 'Since', label: 'Recorded since', placeholder: '1h or 2026-11-25T12:00:00Z' },
      { name: 'Limit', label: 'How many', value: '10' },
    ], 'Rank sources', async (v) => {
      const r = await call(V.PALISADE, 'DescribeFlowLogTopTalkers', v);
      top.replaceChildren(table('Top sources by ' + (r.By || v.By), [
        ['Source address', (x) => x.SrcAddr], ['Bytes', (x) => x.Bytes], ['Packets', (x) => x.Packets], ['Flows', (x) => x.Flows],
      ], list(r.TopTalkers && r.TopTalkers.TopTalker)));
    }, pg.alert), top);
  await pg.load();
}

const WAF_KINDS = [['custom', 'Custom rule'], ['whitelist', 'Whitelist'], ['blacklist', 'IP blacklist'], ['ratelimit', 'Rate limit']];

// wafRuleWhat is what a rule matches, in words.
function wafRuleWhat(x) {
  if (x.Kind === 'blacklist') return join(x.Addresses) + (x.ExpireTime ? ' until ' + x.ExpireTime : '');
  if (x.Kind === 'ratelimit') {
    return (x.Conditions ? x.Conditions + ': ' : '') + x.Threshold + ' per ' + x.Interval + ' s by ' + (x.By === 'header' ? 'header ' + x.Header : 'IP') +
      (x.Status ? ' (status ' + x.Status + ' only)' : '') + ', blocked ' + x.BlockDuration + ' s';
  }
  return x.Conditions + (x.Kind === 'whitelist' ? ' (skips ' + (list(x.Bypass).length ? join(x.Bypass) : 'every module') + ')' : '');
}

async function viewWafRules() {
  const pg = page('WAF rules');
  const tbl = listing(pg, async () => {
    const r = await call(V.PALISADE, 'DescribeWafRules', {});
    return table('Rules (' + (r.TotalCount || list(r.Rules && r.Rules.Rule).length) + ')', [
      ['Rule ID', (x) => x.RuleId], ['Protected object', (x) => x.ProtectionId], ['Kind', (x) => x.Kind], ['Name', (x) => x.Name],
      ['Matches', wafRuleWhat], ['Action', (x) => x.RuleAction],
      ['', (x) => deleteButton(pg, 'WAF rule', x.RuleId, V.PALISADE, 'DeleteWafRule', { RuleId: x.RuleId })],
    ], list(r.Rules && r.Rules.Rule));
  });
  const seconds = (v) => v === '' ? '' : v;
  pg.body.append(await idList('waf-ids', V.PALISADE, 'DescribeWafProtections', (r) => list(r.Protections && r.Protections.Protection)
    .map((p) => [p.ProtectionId, p.InstanceId + ':' + p.Port])),
  el('h3', {}, 'Add rule'), form('Add WAF rule', [
    { name: 'ProtectionId', label: 'Protected object ID', required: true, list: 'waf-ids' },
    { name: 'Kind', label: 'Rule kind', type: 'select', options: WAF_KINDS },
    { name: 'Name', label: 'Rule name' },
    { name: 'Conditions', label: 'Conditions', placeholder: 'path prefix /admin && method equals post' },
    { name: 'RuleAction', label: 'Rule action', type: 'select', options: [['block', 'Block'], ['monitor', 'Monitor']] },
    { name: 'Bypass', label: 'Whitelist skips', placeholder: 'blacklist,custom,ratelimit,crs (empty: all)' },
    { name: 'Addresses', label: 'Blacklisted addresses', placeholder: '198.51.100.0/24, 203.0.113.5' },
    { name: 'Ttl', label: 'Blacklisted for (s)', placeholder: 'for ever' },
    { name: 'By', label: 'Count by', type: 'select', options: [['ip', 'Client IP'], ['header', 'Header']] },
    { name: 'Header', label: 'Header name' },
    { name: 'Interval', label: 'Interval (s)' },
    { name: 'Threshold', label: 'Threshold' },
    { name: 'BlockDuration', label: 'Block for (s)' },
    { name: 'Status', label: 'Only status' },
  ], 'Add rule', done(pg, async (v) => {
    const p = { ProtectionId: v.ProtectionId, Kind: v.Kind, Name: v.Name, Conditions: v.Conditions };
    if (v.Kind === 'custom' || v.Kind === 'ratelimit') p.RuleAction = v.RuleAction;
    if (v.Kind === 'whitelist') p.Bypass = v.Bypass;
    if (v.Kind === 'blacklist') {
      p.Addresses = JSON.stringify(v.Addresses.split(/[\s,]+/).filter(Boolean));
      p.Ttl = seconds(v.Ttl);
    }
    if (v.Kind === 'ratelimit') {
      Object.assign(p, { By: v.By, Header: v.Header, Interval: v.Interval, Threshold: v.Threshold, BlockDuration: v.BlockDuration, Status: v.Status });
    }
    return 'Added WAF rule ' + (await call(V.PALISADE, 'CreateWafRule', p)).RuleId + '.';
  }), pg.alert),
  el('p', { class: 'muted' }, 'Conditions are "field[:name] op value" joined by &&: fields ip, url, path, query[:arg], header:NAME, ' +
    'cookie:NAME, method, body; operators contains, equals, prefix, regex and in-cidr. Each kind takes its own fields: a whitelist ' +
    'its conditions and the modules it skips, a blacklist its addresses, a rate limit its counting.'),
  tbl);
  await pg.load();
}

async function viewWafLogs() {
  const { alert, body } = page('WAF logs');
  const out = el('div');
  const f = form('WAF logs', [
    { name: 'ProtectionId', label: 'Protection ID' },
    { name: 'ClientIp', label: 'Client IP' },
    { name: 'WafAction', label: 'WAF action', type: 'select', options: [['', 'any'], 'block', 'monitor', 'pass'] },
    { name: 'Module', label: 'Module' },
    { name: 'MaxResults', label: 'Max results', value: '100' },
  ], 'Search', async (v) => {
    const r = await call(V.PALISADE, 'DescribeWafLogs', v);
    out.replaceChildren(table('WAF logs (' + (r.TotalCount || 0) + ')', [
      ['Time', (l) => l.Time], ['Protection', (l) => l.ProtectionId], ['Client', (l) => l.ClientIp],
      ['Request', (l) => l.Method + ' ' + l.Host + l.Uri], ['Status', (l) => l.Status], ['Module', (l) => l.Module],
      ['Rules', (l) => join(l.RuleIds)], ['Action', (l) => l.WafAction], ['Score', (l) => l.Score],
    ], list(r.Logs && r.Logs.Log)));
  }, alert);
  body.append(f, out);
  f.requestSubmit();
}

async function viewDDoS() {
  const pg = page('Anti-DDoS');
  const out = el('div');
  const eips = listing(pg, async () => {
    const r = await call(V.DDOS, 'DescribeInstanceIpAddress', { DdosRegionId: state.who.RegionId, InstanceType: 'eip',
      CurrentPage: 1, PageSize: 50 });
    const rows = [];
    for (const inst of list(r.InstanceList)) {
      for (const ip of list(inst.IpAddressConfig)) rows.push(Object.assign({ InstanceId: inst.InstanceId }, ip));
    }
    return el('div', {}, el('datalist', { id: 'ddos-ids' }, rows.map((x) => el('option', { value: x.InstanceId }, x.InstanceIp))),
      table('Protection of the EIPs (' + rows.length + ')', [
        ['EIP', (x) => x.InstanceId], ['Address', (x) => x.InstanceIp], ['Status', (x) => x.IpStatus],
        ['Scrubbing threshold (Mbit/s)', (x) => x.DefenseBpsThreshold], ['Scrubbing threshold (packets/s)', (x) => x.DefensePpsThreshold],
        ['Blackhole threshold (Mbit/s)', (x) => x.BlackholeThreshold],
      ], rows));
  });
  pg.body.append(eips, el('h3', {}, 'Scrubbing threshold'), form('Scrubbing threshold', [
    { name: 'InstanceId', label: 'EIP ID', required: true, list: 'ddos-ids' },
    { name: 'Bps', label: 'Threshold (Mbit/s)', placeholder: 'at most the default' },
    { name: 'Pps', label: 'Threshold (packets/s)', placeholder: 'at most the default' },
    { name: 'IsAuto', label: 'Back to the default', type: 'checkbox' },
  ], 'Set threshold', done(pg, async (v) => {
    await call(V.DDOS, 'ModifyDefenseThreshold', Object.assign({ DdosRegionId: state.who.RegionId, InstanceType: 'eip' }, v));
    return 'Set the scrubbing threshold of ' + v.InstanceId + (v.IsAuto ? ' back to the default.' : '.');
  }), pg.alert),
  el('p', { class: 'muted' }, 'Traffic to an EIP above its scrubbing threshold is scrubbed; above the blackhole threshold, ' +
    'everything to it is dropped for the blackhole\'s duration. A threshold may only be lowered below its default.'),
  el('h3', {}, 'Events'), form('Anti-DDoS events', [
    { name: 'InstanceType', label: 'Instance type', type: 'select', options: ['eip', 'ecs'] },
    { name: 'InstanceId', label: 'Instance ID', required: true, list: 'ddos-ids' },
    { name: 'QueryDays', label: 'Days', value: '7' },
  ], 'Show events', async (v) => {
    const r = await call(V.DDOS, 'DescribeDdosEventList', Object.assign({ DdosRegionId: state.who.RegionId, PageSize: 50 }, v));
    out.replaceChildren(table('Events (' + (r.Total || 0) + ')', [
      ['Type', (e) => e.DdosType], ['Status', (e) => e.DdosStatus], ['Start', (e) => unixTime(e.StartTime)],
      ['End', (e) => e.EndTime ? unixTime(e.EndTime) : 'ongoing'], ['Blackhole (min)', (e) => e.DelayTime || ''],
      ['Blackhole ends', (e) => unixTime(e.UnBlackholeTime)],
    ], list(r.DdosEventList && r.DdosEventList.DdosEvent)));
  }, pg.alert), out);
  await pg.load();
}

const CFW_DIRS = [['in', 'Inbound'], ['out', 'Outbound']];
const CFW_ADDR_TYPES = [['net', 'CIDR'], ['group', 'Address book']];

// CFW_POLICY_FIELDS are the rule fields of a Cloud Firewall control
// policy, of the Internet firewall (AddControlPolicy), of a VPC firewall
// (CreateVpcFirewallControlPolicy) and of a NAT firewall
// (CreateNatFirewallControlPolicy) alike.
const CFW_POLICY_FIELDS = [
  { name: 'AclAction', label: 'Policy action', type: 'select', options: ['accept', 'drop', 'log'] },
  { name: 'Proto', label: 'Policy protocol', type: 'select', options: ['TCP', 'UDP', 'ICMP', 'ANY'] },
  { name: 'SourceType', label: 'Source type', type: 'select', options: CFW_ADDR_TYPES },
  { name: 'Source', label: 'Policy source', required: true, placeholder: '0.0.0.0/0 or a book name' },
  { name: 'DestinationType', label: 'Destination type', type: 'select', options: CFW_ADDR_TYPES },
  { name: 'Destination', label: 'Policy destination', required: true, placeholder: '203.0.113.10/32' },
  { name: 'DestPort', label: 'Destination port', placeholder: '443 or 80/88 (none: every port)' },
  { name: 'NewOrder', label: 'Order', type: 'number', value: '1', required: true },
  { name: 'Description', label: 'Policy description', required: true },
];

// cfwPolicyForm is the "Add policy" form: lead fields come first; add
// (async) sends the values, with the application and port type set, and
// returns the response (its AclUuid is shown). values (optional) are
// initial values of the policy fields by name ({ NewOrder: '-1' }).
function cfwPolicyForm(pg, lead, add, values) {
  const fields = CFW_POLICY_FIELDS.map((fd) => values && fd.name in values ? Object.assign({}, fd, { value: values[fd.name] }) : fd);
  return form('Add policy', lead.concat(fields), 'Add policy', done(pg, async (v) => {
    const r = await add(Object.assign({ ApplicationName: 'ANY', DestPortType: 'port' }, v));
    return 'Added policy ' + r.AclUuid + '.';
  }), pg.alert);
}

// cfwPolicyTable lists policies in priority order, with Enable/Disable
// and Delete buttons: ops.modify and ops.remove are the actions, and
// ops.params(p) the parameters naming the policy's list. With ops.move
// (the action that sets a policy's NewOrder) and ops.total (the number of
// policies, the last order), Move up and Move down buttons too.
function cfwPolicyTable(pg, caption, policies, ops) {
  const move = (p, way, order) => callButton(pg, { verb: 'Move ' + way, past: 'Moved ' + way, kind: 'policy', id: p.AclUuid },
    V.CFW, ops.move, Object.assign(ops.params(p), { AclUuid: p.AclUuid, NewOrder: order }));
  return table(caption, [
    ['Order', (p) => p.Order], ['UUID', (p) => p.AclUuid], ['Action', (p) => p.AclAction],
    ['Source', (p) => p.SourceType + ' ' + p.Source], ['Destination', (p) => p.DestinationType + ' ' + p.Destination],
    ['Protocol', (p) => p.Proto], ['Port', (p) => p.DestPort || p.DestPortGroup], ['Enabled', (p) => p.Release],
    ['Hits', (p) => p.HitTimes], ['Last hit', (p) => unixTime(p.HitLastTime)], ['Description', (p) => p.Description],
    ['', (p) => el('span', { class: 'actions' },
      statusButton(pg, 'policy', p.AclUuid, p.Release === 'true', ['Enable', ops.modify], ['Disable', ops.modify],
        V.CFW, Object.assign(ops.params(p), { AclUuid: p.AclUuid, Release: String(p.Release !== 'true') })),
      deleteButton(pg, 'policy', p.AclUuid, V.CFW, ops.remove, Object.assign(ops.params(p), { AclUuid: p.AclUuid })),
      ops.move && p.Order > 1 && move(p, 'up', p.Order - 1),
      ops.move && p.Order < ops.total && move(p, 'down', p.Order + 1))],
  ], policies);
}

// CFW_LOG_TYPES are the firewalls of DescribeFirewallLogs (LogType).
const CFW_LOG_TYPES = [['', 'any'], ['internet_log', 'Internet'], ['nat_firewall_log', 'NAT'], ['vpc_firewall_log', 'VPC']];

// cfwTrafficLogs is the "Traffic logs" section: a search of the
// connections that drop and log policies of every firewall decided
// (DescribeFirewallLogs), newest first. It returns the form and the
// results' container, which shows the first page at once.
function cfwTrafficLogs(alert) {
  const out = el('div');
  const kind = Object.fromEntries(CFW_LOG_TYPES);
  const end = (ip, port) => (port ? (ip.includes(':') ? '[' + ip + ']' : ip) + ':' + port : ip);
  const search = async (v) => {
    const r = await call(V.PALISADE, 'DescribeFirewallLogs', v);
    return table('Traffic logs (' + (r.TotalCount || 0) + '), newest first', [
      ['Time', (l) => unixTime(l.start_time)], ['Firewall', (l) => kind[l.log_type] || l.log_type],
      ['Action', (l) => l.rule_result], ['Policy', (l) => l.acl_rule_id], ['Direction', (l) => l.direction],
      ['Protocol', (l) => l.ip_protocol], ['Source', (l) => end(l.src_ip, l.src_port)],
      ['Destination', (l) => end(l.dst_ip, l.dst_port)], ['VPC', (l) => l.vpc_id], ['NAT gateway or VPC firewall', (l) => l.firewall_id],
    ], list(r.Logs));
  };
  const f = form('Traffic logs', [
    { name: 'LogType', label: 'Firewall', type: 'select', options: CFW_LOG_TYPES },
    { name: 'RuleResult', label: 'Logged action', type: 'select', options: [['', 'any'], 'drop', 'log'] },
    { name: 'AclUuid', label: 'Policy UUID' },
    { name: 'SrcIP', label: 'Source IP or CIDR' },
    { name: 'DstIP', label: 'Destination IP or CIDR' },
    { name: 'Port', label: 'Source or destination port' },
    { name: 'CurrentPage', label: 'Page', value: '1' },
    { name: 'PageSize', label: 'Page size', value: '20' },
  ], 'Search', async (v) => out.replaceChildren(await search(v)), alert);
  // Not a submit: that would clear the messages of the page's other forms.
  fill(out, alert, () => search({ CurrentPage: 1, PageSize: 20 }));
  return [f, out];
}

async function viewFirewall() {
  const pg = page('Cloud Firewall control policies');
  let dir = 'in';
  const tbl = listing(pg, async () => {
    const r = await call(V.CFW, 'DescribeControlPolicy', { CurrentPage: 1, PageSize: 100, Direction: dir });
    return cfwPolicyTable(pg, (dir === 'in' ? 'Inbound' : 'Outbound') + ' policies (' + (r.TotalCount || 0) + '), in priority order',
      list(r.Policys), { modify: 'ModifyControlPolicy', remove: 'DeleteControlPolicy', params: (p) => ({ Direction: p.Direction }) });
  });
  const show = form('Control policies', [
    { name: 'Direction', label: 'Direction', type: 'select', options: CFW_DIRS },
  ], 'Show', async (v) => { dir = v.Direction; await pg.load(); }, pg.alert);
  pg.body.append(show, el('h3', {}, 'Add policy'), cfwPolicyForm(pg, [
    { name: 'Direction', label: 'Policy direction', type: 'select', options: CFW_DIRS },
  ], async (v) => {
    const r = await call(V.CFW, 'AddControlPolicy', v);
    dir = v.Direction;
    show.inputs.Direction.value = dir;
    return r;
  }), tbl);
  const [logs, found] = cfwTrafficLogs(pg.alert);
  pg.body.append(el('h3', {}, 'Traffic logs'), logs, found,
    el('p', { class: 'muted' }, 'Every new connection a drop or log policy of the Internet, NAT or VPC firewalls decided, ' +
      'as the agents record it (the newest 10,000 of the account are kept). Accept policies are counted, not logged.'));
  await pg.load();
}

// viewFirewallAssets lists the EIPs the Internet firewall protects, with
// their switch.
async function viewFirewallAssets() {
  const pg = page('Cloud Firewall protection');
  const tbl = listing(pg, async () => {
    const r = await call(V.CFW, 'DescribeAssetList', { CurrentPage: 1, PageSize: 100 });
    return table('EIPs (' + (r.TotalCount || 0) + ')', [
      ['Address', (a) => a.InternetAddress], ['EIP', (a) => a.ResourceInstanceId], ['Bound to', (a) => a.BindInstanceId],
      ['Private IP', (a) => a.IntranetAddress], ['Protection', (a) => a.ProtectStatus],
      ['', (a) => a.ProtectStatus === 'open'
        ? callButton(pg, { verb: 'Disable', kind: 'protection of', id: a.InternetAddress }, V.CFW, 'PutDisableFwSwitch',
          { 'IpaddrList.1': a.InternetAddress })
        : callButton(pg, { verb: 'Enable', kind: 'protection of', id: a.InternetAddress }, V.CFW, 'PutEnableFwSwitch',
          { 'IpaddrList.1': a.InternetAddress })],
    ], list(r.Assets));
  });
  pg.body.append(el('p', { class: 'muted' }, 'While its protection is enabled, the control policies judge every new connection ' +
    'between the internet and an EIP; disabled, nothing does.'), tbl);
  await pg.load();
}

const BOOK_TYPES = [['ip', 'Addresses (CIDR blocks)'], ['port', 'Ports']];

async function viewAddressBooks() {
  const pg = page('Address books');
  const tbl = listing(pg, async () => {
    const r = await call(V.CFW, 'DescribeAddressBook', { CurrentPage: 1, PageSize: 100 });
    return el('div', {}, el('datalist', { id: 'book-ids' }, list(r.Acls).map((b) => el('option', { value: b.GroupUuid }, b.GroupName))),
      table('Address books (' + (r.TotalCount || 0) + ')', [
        ['Name', (b) => b.GroupName], ['Type', (b) => b.GroupType], ['Entries', (b) => join(b.AddressList)],
        ['Used by policies', (b) => b.ReferenceCount], ['Description', (b) => b.Description], ['ID', (b) => b.GroupUuid],
        ['', (b) => deleteButton(pg, 'address book', b.GroupName, V.CFW, 'DeleteAddressBook', { GroupUuid: b.GroupUuid })],
      ], list(r.Acls)));
  });
  pg.body.append(el('h3', {}, 'Create address book'), form('Create address book', [
    { name: 'GroupName', label: 'Book name', required: true },
    { name: 'GroupType', label: 'Book type', type: 'select', options: BOOK_TYPES },
    { name: 'AddressList', label: 'Entries', required: true, placeholder: '10.0.0.0/8,192.0.2.1/32 or 80,8000/8080' },
    { name: 'Description', label: 'Book description', required: true },
  ], 'Create address book', done(pg, async (v) => 'Created address book ' + v.GroupName + ' (' +
    (await call(V.CFW, 'AddAddressBook', v)).GroupUuid + ').'), pg.alert),
  el('h3', {}, 'Change entries'), form('Change entries', [
    { name: 'GroupUuid', label: 'Book ID', required: true, list: 'book-ids' },
    { name: 'AddressList', label: 'New entries', required: true },
  ], 'Change entries', done(pg, async (v) => {
    await call(V.CFW, 'ModifyAddressBook', v);
    return 'Changed the entries of ' + v.GroupUuid + '.';
  }), pg.alert),
  el('p', { class: 'muted' }, 'A control policy names a book as its source, destination or port; renaming a book renames it in them, ' +
    'and a book in use cannot be deleted.'),
  tbl);
  await pg.load();
}

// ---------- VPC peering, route tables, VPC firewalls ----------

// mine tells whether an account ID (a number, or its digits when a
// double cannot hold it: see bigInts) is the caller's.
function mine(id) {
  return String(id) === state.who.AccountId || (typeof id === 'number' && id === Number(state.who.AccountId));
}

// account shows an account ID, "this account" for the caller's.
function account(id) {
  return id ? (mine(id) ? state.who.AccountId + ' (this account)' : String(id)) : '';
}

function peerVpc(v) {
  return v ? v.VpcId + (list(v.Ipv4Cidrs).length ? ' (' + join(v.Ipv4Cidrs) + ')' : '') : '';
}

const peerOptions = (r) => list(r.VpcPeerConnects).map((p) => [p.InstanceId, (p.Name || '') + ' ' + p.Vpc.VpcId + ' ↔ ' + p.AcceptingVpc.VpcId]);

async function viewPeerings() {
  const pg = page('VPC peering');
  const tbl = listing(pg, async () => {
    const r = await call(V.PEER, 'ListVpcPeerConnections', { MaxResults: 100 });
    return table('VPC peering connections (' + (r.TotalCount || 0) + ')', [
      ['Peering ID', (p) => p.InstanceId], ['Name', (p) => p.Name], ['Status', (p) => p.Status],
      ['VPC', (p) => peerVpc(p.Vpc)], ['Account', (p) => account(p.OwnerId)],
      ['Accepting VPC', (p) => peerVpc(p.AcceptingVpc)], ['Accepting account', (p) => account(p.AcceptingOwnerUid)],
      ['Bandwidth (Mbit/s)', (p) => p.Bandwidth], ['Created', (p) => p.GmtCreate],
      ['', (p) => el('span', { class: 'actions' },
        p.Status === 'Accepting' && mine(p.AcceptingOwnerUid) ? [
          callButton(pg, { verb: 'Accept', past: 'Accepted', kind: 'peering', id: p.InstanceId }, V.PEER, 'AcceptVpcPeerConnection',
            { InstanceId: p.InstanceId }),
          callButton(pg, { verb: 'Reject', past: 'Rejected', kind: 'peering', id: p.InstanceId, ask: '' }, V.PEER, 'RejectVpcPeerConnection',
            { InstanceId: p.InstanceId }),
        ] : [],
        deleteButton(pg, 'peering', p.InstanceId, V.PEER, 'DeleteVpcPeerConnection', { InstanceId: p.InstanceId }),
        callButton(pg, { verb: 'Force delete', kind: 'peering', id: p.InstanceId, ask: 'The route entries through it are deleted with it.' },
          V.PEER, 'DeleteVpcPeerConnection', { InstanceId: p.InstanceId, Force: 'true' }))],
    ], list(r.VpcPeerConnects));
  });
  pg.body.append(await idList('vpc-ids', V.VPC, 'DescribeVpcs', vpcOptions),
    el('h3', {}, 'Create peering connection'), form('Create peering connection', [
      { name: 'VpcId', label: 'VPC ID', required: true, list: 'vpc-ids' },
      { name: 'AcceptingVpcId', label: 'Accepting VPC ID', required: true, list: 'vpc-ids' },
      { name: 'AcceptingAliUid', label: 'Accepting account ID', placeholder: 'this account' },
      { name: 'Name', label: 'Peering name' },
    ], 'Create peering', done(pg, async (v) => {
      const id = (await call(V.PEER, 'CreateVpcPeerConnection', v)).InstanceId;
      const p = await call(V.PEER, 'GetVpcPeerConnectionAttribute', { InstanceId: id });
      return 'Created peering ' + id + ' (' + p.Status + ').';
    }), pg.alert),
    el('p', { class: 'muted' }, 'Between two VPCs of this account the connection is Activated at once; with another account it waits ' +
      'for that account to accept it. Traffic flows once each side has a route entry to the other through it (Route tables).'),
    tbl);
  await pg.load();
}

async function viewRouteTables() {
  const pg = page('Route tables');
  const tbl = listing(pg, async () => {
    const r = await call(V.VPC, 'DescribeRouteTableList', { PageSize: 50 });
    return table('Route tables (' + (r.TotalCount || 0) + ')', [
      ['Route table ID', (t) => link('#/route-tables/' + encodeURIComponent(t.RouteTableId), t.RouteTableId)],
      ['VPC', (t) => t.VpcId], ['Type', (t) => t.RouteTableType], ['Router', (t) => t.RouterId],
      ['vSwitches', (t) => join(t.VSwitchIds && t.VSwitchIds.VSwitchId)], ['Status', (t) => t.Status],
    ], list(r.RouterTableList && r.RouterTableList.RouterTableListType));
  });
  pg.body.append(el('p', { class: 'muted' }, 'A VPC has one route table. Select it for its entries.'), tbl);
  await pg.load();
}

async function viewRouteTable(id) {
  const pg = page('Route table ' + id);
  const tbl = listing(pg, async () => {
    const [t, r] = await Promise.all([call(V.VPC, 'DescribeRouteTableList', { RouteTableId: id }),
      call(V.VPC, 'DescribeRouteEntryList', { RouteTableId: id, MaxResult: 100 })]);
    const rt = list(t.RouterTableList && t.RouterTableList.RouterTableListType)[0] || {};
    return el('div', {}, el('p', {}, 'VPC: ', rt.VpcId || '', ' · Type: ', rt.RouteTableType || ''),
      table('Route entries', [
        ['Entry ID', (e) => e.RouteEntryId], ['Name', (e) => e.RouteEntryName], ['Destination', (e) => e.DestinationCidrBlock],
        ['Next hop type', (e) => e.NextHopType], ['Next hop', (e) => e.InstanceId], ['Type', (e) => e.Type], ['Status', (e) => e.Status],
        ['', (e) => e.Type === 'Custom'
          ? deleteButton(pg, 'route entry', e.RouteEntryId, V.VPC, 'DeleteRouteEntry', { RouteEntryId: e.RouteEntryId, RouteTableId: id })
          : ''],
      ], list(r.RouteEntrys && r.RouteEntrys.RouteEntry)));
  });
  pg.body.append(el('p', {}, link('#/route-tables', '← All route tables')),
    await idList('peer-ids', V.PEER, 'ListVpcPeerConnections', peerOptions, { PageSize: '', MaxResults: 100 }),
    el('h3', {}, 'Add route entry'), form('Add route entry', [
      { name: 'DestinationCidrBlock', label: 'Destination CIDR', required: true, placeholder: '10.1.0.0/16' },
      { name: 'NextHopId', label: 'Peering ID', required: true, list: 'peer-ids', placeholder: 'pcc-…' },
      { name: 'RouteEntryName', label: 'Entry name' },
    ], 'Add route entry', done(pg, async (v) => {
      const r = await call(V.VPC, 'CreateRouteEntry', Object.assign({ RouteTableId: id, NextHopType: 'VpcPeer' }, v));
      return 'Added route entry ' + r.RouteEntryId + ' to ' + v.DestinationCidrBlock + '.';
    }), pg.alert),
    el('p', { class: 'muted' }, 'System entries (the vSwitches of the VPC) cannot be deleted; a destination within the VPC is refused.'),
    tbl);
  await pg.load();
}

// ---------- traffic mirroring (VPC 2016-04-28) ----------

const filterOptions = (r) => list(r.TrafficMirrorFilters).map((f) => [f.TrafficMirrorFilterId, f.TrafficMirrorFilterName || '']);
const eniOptions = (r) => list(r.NetworkInterfaceSets && r.NetworkInterfaceSets.NetworkInterfaceSet)
  .map((e) => [e.NetworkInterfaceId, (e.InstanceId || '') + ' ' + (e.PrivateIpAddress || '')]);

async function viewMirrorFilters() {
  const pg = page('Traffic mirror filters');
  const tbl = listing(pg, async () => {
    const r = await call(V.VPC, 'ListTrafficMirrorFilters', { MaxResults: 100 });
    return table('Filters (' + (r.TotalCount || 0) + ')', [
      ['Filter ID', (f) => link('#/mirror-filters/' + encodeURIComponent(f.TrafficMirrorFilterId), f.TrafficMirrorFilterId)],
      ['Name', (f) => f.TrafficMirrorFilterName], ['Description', (f) => f.TrafficMirrorFilterDescription],
      ['Inbound rules', (f) => list(f.IngressRules).length], ['Outbound rules', (f) => list(f.EgressRules).length],
      ['Created', (f) => f.CreationTime],
      ['', (f) => deleteButton(pg, 'filter', f.TrafficMirrorFilterId, V.VPC, 'DeleteTrafficMirrorFilter',
        { TrafficMirrorFilterId: f.TrafficMirrorFilterId }, 'Its rules are deleted with it.')],
    ], list(r.TrafficMirrorFilters));
  });
  pg.body.append(el('h3', {}, 'Create filter'), form('Create filter', [
    { name: 'TrafficMirrorFilterName', label: 'Filter name' },
    { name: 'TrafficMirrorFilterDescription', label: 'Description' },
  ], 'Create filter', done(pg, async (v) => 'Created filter ' + (await call(V.VPC, 'CreateTrafficMirrorFilter', v)).TrafficMirrorFilterId + '.'),
  pg.alert),
  el('p', { class: 'muted' }, 'A filter\'s inbound and outbound rules say what a session copies: the first rule in priority order that ' +
    'matches a packet decides (accept: copied, drop: not); a packet no rule matches is not copied.'),
  tbl);
  await pg.load();
}

async function viewMirrorFilter(id) {
  const pg = page('Traffic mirror filter ' + id);
  const rules = (pg2, caption, rs) => table(caption, [
    ['Rule ID', (x) => x.TrafficMirrorFilterRuleId], ['Priority', (x) => x.Priority], ['Action', (x) => x.Action],
    ['Protocol', (x) => x.Protocol], ['Source', (x) => x.SourceCidrBlock], ['Source ports', (x) => x.SourcePortRange],
    ['Destination', (x) => x.DestinationCidrBlock], ['Destination ports', (x) => x.DestinationPortRange],
    ['', (x) => deleteButton(pg2, 'rule', x.TrafficMirrorFilterRuleId, V.VPC, 'DeleteTrafficMirrorFilterRules',
      { TrafficMirrorFilterId: id, 'TrafficMirrorFilterRuleIds.1': x.TrafficMirrorFilterRuleId })],
  ], rs);
  const tbl = listing(pg, async () => {
    const r = await call(V.VPC, 'ListTrafficMirrorFilters', { 'TrafficMirrorFilterIds.1': id, MaxResults: 1 });
    const f = list(r.TrafficMirrorFilters)[0];
    if (!f) throw new Error('No traffic mirror filter ' + id + '.');
    const byPrio = (rs) => list(rs).slice().sort((a, b) => a.Priority - b.Priority);
    return el('div', {}, el('p', {}, 'Name: ', f.TrafficMirrorFilterName || '', ' · Description: ', f.TrafficMirrorFilterDescription || ''),
      rules(pg, 'Inbound rules (received by the source)', byPrio(f.IngressRules)),
      rules(pg, 'Outbound rules (sent by the source)', byPrio(f.EgressRules)));
  });
  pg.body.append(el('p', {}, link('#/mirror-filters', '← All filters')),
    el('h3', {}, 'Add rule'), form('Add rule', [
      { name: 'Direction', label: 'Direction', type: 'select', options: [['ingress', 'Inbound'], ['egress', 'Outbound']] },
      { name: 'Action', label: 'Action', type: 'select', options: [['accept', 'Accept (copy)'], ['drop', 'Drop (do not copy)']] },
      { name: 'Protocol', label: 'Protocol', type: 'select', options: ['ALL', 'TCP', 'UDP', 'ICMP'] },
      { name: 'Priority', label: 'Priority', required: true, placeholder: '1-10' },
      { name: 'SourceCidrBlock', label: 'Source CIDR', value: '0.0.0.0/0' },
      { name: 'SourcePortRange', label: 'Source port range', value: '-1/-1' },
      { name: 'DestinationCidrBlock', label: 'Destination CIDR', value: '0.0.0.0/0' },
      { name: 'DestinationPortRange', label: 'Destination port range', value: '-1/-1' },
    ], 'Add rule', done(pg, async (v) => {
      const dir = v.Direction === 'egress' ? 'EgressRules' : 'IngressRules';
      const p = { TrafficMirrorFilterId: id };
      for (const k of ['Action', 'Protocol', 'Priority', 'SourceCidrBlock', 'SourcePortRange', 'DestinationCidrBlock', 'DestinationPortRange']) {
        p[dir + '.1.' + k] = v[k];
      }
      const r = await call(V.VPC, 'CreateTrafficMirrorFilterRules', p);
      const ids = list(r[dir === 'EgressRules' ? 'EgressRules' : 'IngressRules']).map((x) => x.InstanceId);
      return 'Added rule ' + ids.join(', ') + '.';
    }), pg.alert),
    el('p', { class: 'muted' }, 'Port ranges are start/end (1-65535), or -1/-1 for every port; ICMP and ALL take -1/-1.'),
    tbl);
  await pg.load();
}

async function viewMirrorSessions() {
  const pg = page('Traffic mirror sessions');
  const tbl = listing(pg, async () => {
    const r = await call(V.VPC, 'ListTrafficMirrorSessions', { MaxResults: 100 });
    return table('Sessions (' + (r.TotalCount || 0) + ')', [
      ['Session ID', (m) => m.TrafficMirrorSessionId], ['Name', (m) => m.TrafficMirrorSessionName], ['Priority', (m) => m.Priority],
      ['Filter', (m) => link('#/mirror-filters/' + encodeURIComponent(m.TrafficMirrorFilterId), m.TrafficMirrorFilterId)],
      ['Target', (m) => m.TrafficMirrorTargetId], ['Sources', (m) => join(m.TrafficMirrorSourceIds)],
      ['VNI', (m) => m.VirtualNetworkId], ['Packet length', (m) => m.PacketLength], ['Enabled', (m) => yes(m.Enabled)],
      ['', (m) => el('span', { class: 'actions' },
        callButton(pg, { verb: m.Enabled ? 'Disable' : 'Enable', kind: 'session', id: m.TrafficMirrorSessionId }, V.VPC,
          'UpdateTrafficMirrorSessionAttribute', { TrafficMirrorSessionId: m.TrafficMirrorSessionId, Enabled: m.Enabled ? 'false' : 'true' }),
        deleteButton(pg, 'session', m.TrafficMirrorSessionId, V.VPC, 'DeleteTrafficMirrorSession', { TrafficMirrorSessionId: m.TrafficMirrorSessionId }))],
    ], list(r.TrafficMirrorSessions));
  });
  const ids = (s) => s.split(/[\s,]+/).filter(Boolean);
  pg.body.append(await idList('tmf-ids', V.VPC, 'ListTrafficMirrorFilters', filterOptions, { PageSize: '', MaxResults: 100 }),
    await idList('eni-ids', V.ECS, 'DescribeNetworkInterfaces', eniOptions, { PageSize: 100 }),
    el('h3', {}, 'Create session'), form('Create session', [
      { name: 'TrafficMirrorFilterId', label: 'Filter ID', required: true, list: 'tmf-ids' },
      { name: 'TrafficMirrorTargetId', label: 'Target ENI ID', required: true, list: 'eni-ids' },
      { name: 'Sources', label: 'Source ENI IDs', required: true, placeholder: 'eni-…, eni-…' },
      { name: 'Priority', label: 'Priority', required: true, placeholder: '1-32766' },
      { name: 'VirtualNetworkId', label: 'VNI', placeholder: 'random' },
      { name: 'PacketLength', label: 'Packet length', placeholder: '1500' },
      { name: 'TrafficMirrorSessionName', label: 'Session name' },
      { name: 'Enabled', label: 'Enabled', type: 'checkbox' },
    ], 'Create session', done(pg, async (v) => {
      const p = Object.assign({ TrafficMirrorTargetType: 'NetworkInterface' }, v);
      delete p.Sources;
      ids(v.Sources).forEach((id, i) => { p['TrafficMirrorSourceIds.' + (i + 1)] = id; });
      return 'Created session ' + (await call(V.VPC, 'CreateTrafficMirrorSession', p)).TrafficMirrorSessionId + '.';
    }), pg.alert),
    el('h3', {}, 'Sources'), form('Sources', [
      { name: 'TrafficMirrorSessionId', label: 'Session ID', required: true },
      { name: 'Sources', label: 'ENI IDs', required: true, placeholder: 'eni-…, eni-…' },
      { name: 'Op', label: 'Change', type: 'select', options: [['add', 'Add'], ['remove', 'Remove']] },
    ], 'Change sources', done(pg, async (v) => {
      const p = { TrafficMirrorSessionId: v.TrafficMirrorSessionId };
      ids(v.Sources).forEach((id, i) => { p['TrafficMirrorSourceIds.' + (i + 1)] = id; });
      const add = v.Op === 'add';
      await call(V.VPC, add ? 'AddSourcesToTrafficMirrorSession' : 'RemoveSourcesFromTrafficMirrorSession', p);
      return (add ? 'Added ' : 'Removed ') + ids(v.Sources).join(', ') + (add ? ' to ' : ' from ') + v.TrafficMirrorSessionId + '.';
    }), pg.alert),
    el('p', { class: 'muted' }, 'A session copies what its filter accepts of its source ENIs\' traffic to its target ENI in VXLAN ' +
      '(UDP 4789, the session\'s VNI); each packet once, by the enabled session of smallest priority whose filter accepts it. ' +
      'Sources and target are ENIs of one VPC, in any of its zones, or of two VPCs joined by a peering.'),
    tbl);
  await pg.load();
}

// ---------- PrivateLink (Privatelink 2020-04-15) ----------

const serviceOptions = (r) => list(r.Services).map((v) => [v.ServiceId, v.ServiceDomain || '']);

async function viewEndpointServices() {
  const pg = page('Endpoint services');
  const tbl = listing(pg, async () => {
    const r = await call(V.PL, 'ListVpcEndpointServices', { MaxResults: 100 });
    return table('Endpoint services (' + (r.TotalCount || 0) + ')', [
      ['Service ID', (v) => link('#/endpoint-services/' + encodeURIComponent(v.ServiceId), v.ServiceId)],
      ['Domain', (v) => v.ServiceDomain], ['Zones', (v) => join(v.Zones)], ['Auto-accept', (v) => yes(v.AutoAcceptEnabled)],
      ['Status', (v) => v.ServiceStatus], ['Description', (v) => v.ServiceDescription],
      ['', (v) => deleteButton(pg, 'endpoint service', v.ServiceId, V.PL, 'DeleteVpcEndpointService', { ServiceId: v.ServiceId })],
    ], list(r.Services));
  });
  pg.body.append(await idList('inst-ids', V.ECS, 'DescribeInstances', instOptions),
    el('h3', {}, 'Create endpoint service'), form('Create endpoint service', [
      { name: 'ResourceId', label: 'Backend instance or load balancer ID', required: true, list: 'inst-ids', placeholder: 'i-… or lb-…' },
      { name: 'ZoneId', label: 'Zone', required: true, value: state.who.RegionId + '-a' },
      { name: 'ServiceDescription', label: 'Description' },
      { name: 'AutoAcceptEnabled', label: 'Auto-accept', type: 'checkbox' },
    ], 'Create endpoint service', done(pg, async (v) => {
      const type = v.ResourceId.startsWith('lb-') ? 'slb' : 'ecs';
      const r = await call(V.PL, 'CreateVpcEndpointService', { ServiceResourceType: type, 'Resource.1.ResourceType': type,
        'Resource.1.ResourceId': v.ResourceId, 'Resource.1.ZoneId': v.ZoneId, ServiceDescription: v.ServiceDescription,
        AutoAcceptEnabled: v.AutoAcceptEnabled });
      return 'Created endpoint service ' + r.ServiceId + ' (' + r.ServiceDomain + ').';
    }), pg.alert),
    el('p', { class: 'muted' }, 'A service is backed by instances, or by internal load balancers, of one of your VPCs; other ' +
      'accounts reach it through their endpoints once added as users, and only over connections you enable (or all, with auto-accept).'),
    tbl);
  await pg.load();
}

async function viewEndpointService(id) {
  const pg = page('Endpoint service ' + id);
  const tbl = listing(pg, async () => {
    const [a, c, u] = await Promise.all([call(V.PL, 'GetVpcEndpointServiceAttribute', { ServiceId: id }),
      call(V.PL, 'ListVpcEndpointConnections', { ServiceId: id, MaxResults: 100 }),
      call(V.PL, 'ListVpcEndpointServiceUsers', { ServiceId: id, MaxResults: 50 })]);
    return el('div', {}, el('p', {}, 'Domain: ', a.ServiceDomain || '', ' · Auto-accept: ', yes(a.AutoAcceptEnabled),
      ' · Zones: ', join(a.Zones)),
    table('Connections (' + (c.TotalCount || 0) + ')', [
      ['Endpoint ID', (x) => x.EndpointId], ['Endpoint owner', (x) => account(x.EndpointOwnerId)], ['Endpoint VPC', (x) => x.EndpointVpcId],
      ['Status', (x) => x.ConnectionStatus],
      ['', (x) => x.ConnectionStatus === 'Connected'
        ? callButton(pg, { verb: 'Disable', kind: 'connection', id: x.EndpointId }, V.PL, 'DisableVpcEndpointConnection',
          { ServiceId: id, EndpointId: x.EndpointId })
        : callButton(pg, { verb: 'Enable', kind: 'connection', id: x.EndpointId }, V.PL, 'EnableVpcEndpointConnection',
          { ServiceId: id, EndpointId: x.EndpointId })],
    ], list(c.Connections)),
    table('Users (' + (u.TotalCount || 0) + ')', [
      ['Account', (x) => account(x.UserId)],
      ['', (x) => callButton(pg, { verb: 'Remove', kind: 'user', id: String(x.UserId) }, V.PL, 'RemoveUserFromVpcEndpointService',
        { ServiceId: id, UserId: x.UserId })],
    ], list(u.Users)));
  });
  pg.body.append(el('p', {}, link('#/endpoint-services', '← All endpoint services')),
    el('h3', {}, 'Add user'), form('Add user', [
      { name: 'UserId', label: 'Account ID', required: true },
    ], 'Add user', done(pg, async (v) => {
      await call(V.PL, 'AddUserToVpcEndpointService', { ServiceId: id, UserId: v.UserId });
      return 'Added user ' + v.UserId + '.';
    }), pg.alert),
    tbl);
  await pg.load();
}

async function viewEndpoints() {
  const pg = page('Endpoints');
  const tbl = listing(pg, async () => {
    const r = await call(V.PL, 'ListVpcEndpoints', { MaxResults: 100 });
    return table('Endpoints (' + (r.TotalCount || 0) + ')', [
      ['Endpoint ID', (e) => link('#/endpoints/' + encodeURIComponent(e.EndpointId), e.EndpointId)], ['Name', (e) => e.EndpointName],
      ['Service', (e) => e.ServiceId], ['VPC', (e) => e.VpcId],
      ['Domain', (e) => e.EndpointDomain], ['Status', (e) => e.EndpointStatus], ['Connection', (e) => e.ConnectionStatus],
      ['', (e) => deleteButton(pg, 'endpoint', e.EndpointId, V.PL, 'DeleteVpcEndpoint', { EndpointId: e.EndpointId },
        'Its network interfaces are deleted with it.')],
    ], list(r.Endpoints));
  });
  pg.body.append(await idList('vpc-ids', V.VPC, 'DescribeVpcs', vpcOptions),
    await idList('vsw-ids', V.VPC, 'DescribeVSwitches', vswOptions),
    await idList('sg-ids', V.ECS, 'DescribeSecurityGroups', sgOptions),
    await idList('svc-ids', V.PL, 'ListVpcEndpointServicesByEndUser', serviceOptions, { PageSize: '', MaxResults: 100 }),
    el('h3', {}, 'Create endpoint'), form('Create endpoint', [
      { name: 'VpcId', label: 'VPC ID', required: true, list: 'vpc-ids' },
      { name: 'ServiceId', label: 'Service ID', required: true, list: 'svc-ids' },
      { name: 'SecurityGroupId', label: 'Security group ID', required: true, list: 'sg-ids' },
      { name: 'ZoneId', label: 'Zone', required: true, value: state.who.RegionId + '-a' },
      { name: 'VSwitchId', label: 'vSwitch ID', required: true, list: 'vsw-ids' },
      { name: 'EndpointName', label: 'Endpoint name' },
    ], 'Create endpoint', done(pg, async (v) => {
      const r = await call(V.PL, 'CreateVpcEndpoint', { VpcId: v.VpcId, ServiceId: v.ServiceId, 'SecurityGroupId.1': v.SecurityGroupId,
        'Zone.1.ZoneId': v.ZoneId, 'Zone.1.VSwitchId': v.VSwitchId, EndpointName: v.EndpointName });
      return 'Created endpoint ' + r.EndpointId + ' (' + r.EndpointDomain + ', ' + r.ConnectionStatus + ').';
    }), pg.alert),
    el('p', { class: 'muted' }, 'An endpoint gives one of your VPCs an address, in a vSwitch of the service\'s zone, that reaches ' +
      'the service; its security groups judge what the VPC sends to it.'),
    tbl);
  await pg.load();
}

async function viewEndpoint(id) {
  const pg = page('Endpoint ' + id);
  const tbl = listing(pg, async () => {
    const [a, g, z] = await Promise.all([call(V.PL, 'GetVpcEndpointAttribute', { EndpointId: id }),
      call(V.PL, 'ListVpcEndpointSecurityGroups', { EndpointId: id, MaxResults: 50 }),
      call(V.PL, 'ListVpcEndpointZones', { EndpointId: id, MaxResults: 50 })]);
    return el('div', {}, el('p', {}, 'Service: ', a.ServiceId || '', ' · VPC: ', a.VpcId || '', ' · Domain: ', a.EndpointDomain || '',
      ' · Connection: ', a.ConnectionStatus || ''),
    table('Security groups', [
      ['Group ID', (x) => x.SecurityGroupId],
      ['', (x) => callButton(pg, { verb: 'Detach', past: 'Detached', kind: 'security group', id: x.SecurityGroupId }, V.PL,
        'DetachSecurityGroupFromVpcEndpoint', { EndpointId: id, SecurityGroupId: x.SecurityGroupId })],
    ], list(g.SecurityGroups)),
    table('Zones', [
      ['Zone', (x) => x.ZoneId], ['vSwitch', (x) => x.VSwitchId], ['ENI', (x) => x.EniId], ['Address', (x) => x.EniIp],
      ['Domain', (x) => x.ZoneDomain], ['Status', (x) => x.ZoneStatus],
      ['', (x) => callButton(pg, { verb: 'Remove', kind: 'zone', id: x.ZoneId }, V.PL, 'RemoveZoneFromVpcEndpoint',
        { EndpointId: id, ZoneId: x.ZoneId })],
    ], list(z.Zones)));
  });
  pg.body.append(el('p', {}, link('#/endpoints', '← All endpoints')),
    await idList('sg-ids', V.ECS, 'DescribeSecurityGroups', sgOptions),
    el('h3', {}, 'Attach security group'), form('Attach security group', [
      { name: 'SecurityGroupId', label: 'Security group ID', required: true, list: 'sg-ids' },
    ], 'Attach', done(pg, async (v) => {
      await call(V.PL, 'AttachSecurityGroupToVpcEndpoint', { EndpointId: id, SecurityGroupId: v.SecurityGroupId });
      return 'Attached security group ' + v.SecurityGroupId + '.';
    }), pg.alert),
    el('p', { class: 'muted' }, 'An endpoint keeps at least one security group and one zone.'),
    tbl);
  await pg.load();
}

// ---------- Server Load Balancer (Slb 2014-05-15) ----------

// lbListener names a listener as the pages show it: "TCP:80".
function lbListener(protocol, port) { return String(protocol || '').toUpperCase() + ':' + port; }

async function viewLoadBalancers() {
  const pg = page('Load balancers');
  const tbl = listing(pg, async () => {
    const r = await call(V.SLB, 'DescribeLoadBalancers', { PageSize: 100 });
    return table('Load balancers (' + (r.TotalCount || 0) + ')', [
      ['Load balancer ID', (b) => link('#/load-balancers/' + encodeURIComponent(b.LoadBalancerId), b.LoadBalancerId)],
      ['Name', (b) => b.LoadBalancerName], ['Address', (b) => b.Address], ['VPC', (b) => b.VpcId], ['vSwitch', (b) => b.VSwitchId],
      ['Zone', (b) => b.MasterZoneId], ['Status', (b) => b.LoadBalancerStatus],
      ['', (b) => deleteButton(pg, 'load balancer', b.LoadBalancerId, V.SLB, 'DeleteLoadBalancer', { LoadBalancerId: b.LoadBalancerId },
        'Its listeners are deleted with it and its address goes back to the vSwitch.')],
    ], list(r.LoadBalancers && r.LoadBalancers.LoadBalancer));
  });
  pg.body.append(await idList('vsw-ids', V.VPC, 'DescribeVSwitches', vswOptions),
    el('h3', {}, 'Create load balancer'), form('Create load balancer', [
      { name: 'VSwitchId', label: 'vSwitch ID', required: true, list: 'vsw-ids' },
      { name: 'Address', label: 'Address', placeholder: 'the lowest free one' },
      { name: 'LoadBalancerName', label: 'Load balancer name' },
    ], 'Create load balancer', done(pg, async (v) => {
      const r = await call(V.SLB, 'CreateLoadBalancer', Object.assign({ AddressType: 'intranet' }, v));
      return 'Created load balancer ' + r.LoadBalancerId + ' (' + r.Address + ').';
    }), pg.alert),
    el('p', { class: 'muted' }, 'An internal load balancer has an address of one vSwitch. Its running listeners spread new ' +
      'connections over its backend servers (instances of its VPC and zone) on the listener\'s backend port, keeping the ' +
      'client\'s address: the backends\' security groups must admit the clients on that port.'),
    tbl);
  await pg.load();
}

async function viewLoadBalancer(id) {
  const pg = page('Load balancer ' + id);
  const lbId = { LoadBalancerId: id };
  const tbl = listing(pg, async () => {
    const [a, l, h] = await Promise.all([call(V.SLB, 'DescribeLoadBalancerAttribute', lbId),
      call(V.SLB, 'DescribeLoadBalancerListeners', { 'LoadBalancerId.1': id, MaxResults: 100 }),
      call(V.SLB, 'DescribeHealthStatus', lbId)]);
    const hc = (x) => x.TCPListenerConfig || x.UDPListenerConfig || {};
    return el('div', {}, el('p', {}, 'Name: ', a.LoadBalancerName || '', ' · Address: ', a.Address || '', ' · VPC: ', a.VpcId || '',
      ' · vSwitch: ', a.VSwitchId || '', ' · Zone: ', a.MasterZoneId || '', ' · Status: ', a.LoadBalancerStatus || ''),
    table('Listeners (' + (l.TotalCount || 0) + ')', [
      ['Listener', (x) => lbListener(x.ListenerProtocol, x.ListenerPort)], ['Backend port', (x) => x.BackendServerPort],
      ['Scheduler', (x) => x.Scheduler],
      ['Health check', (x) => hc(x).HealthCheck === 'on' ? 'on, every ' + hc(x).HealthCheckInterval + ' s' : 'off'],
      ['Status', (x) => x.Status],
      ['', (x) => {
        const name = lbListener(x.ListenerProtocol, x.ListenerPort);
        const which = { LoadBalancerId: id, ListenerPort: x.ListenerPort, ListenerProtocol: x.ListenerProtocol };
        return el('span', { class: 'actions' },
          x.Status === 'running'
            ? callButton(pg, { verb: 'Stop', past: 'Stopped', kind: 'listener', id: name }, V.SLB, 'StopLoadBalancerListener', which)
            : callButton(pg, { verb: 'Start', past: 'Started', kind: 'listener', id: name }, V.SLB, 'StartLoadBalancerListener', which),
          deleteButton(pg, 'listener', name, V.SLB, 'DeleteLoadBalancerListener', which));
      }],
    ], list(l.Listeners)),
    table('Backend servers', [
      ['Instance ID', (b) => b.ServerId], ['Address', (b) => b.ServerIp], ['Weight', (b) => b.Weight],
      ['', (b) => callButton(pg, { verb: 'Remove', kind: 'backend server', id: b.ServerId }, V.SLB, 'RemoveBackendServers',
        { LoadBalancerId: id, BackendServers: JSON.stringify([{ ServerId: b.ServerId, Type: 'ecs' }]) })],
    ], list(a.BackendServers && a.BackendServers.BackendServer)),
    table('Health', [
      ['Listener', (x) => lbListener(x.Protocol, x.ListenerPort)], ['Instance ID', (x) => x.ServerId], ['Address', (x) => x.ServerIp],
      ['Backend port', (x) => x.Port], ['Health', (x) => x.ServerHealthStatus],
    ], list(h.BackendServers && h.BackendServers.BackendServer)));
  });
  pg.body.append(el('p', {}, link('#/load-balancers', '← All load balancers')),
    await idList('inst-ids', V.ECS, 'DescribeInstances', instOptions),
    el('h3', {}, 'Add listener'), form('Add listener', [
      { name: 'Protocol', label: 'Protocol', type: 'select', options: [['tcp', 'TCP'], ['udp', 'UDP']] },
      { name: 'ListenerPort', label: 'Listener port', required: true, placeholder: '1-65535' },
      { name: 'BackendServerPort', label: 'Backend port', required: true, placeholder: '1-65535' },
      { name: 'Scheduler', label: 'Scheduler', type: 'select', options: [['wrr', 'wrr (weighted random)'], ['rr', 'rr (round robin)']] },
      { name: 'HealthCheckSwitch', label: 'Health check', type: 'select', options: [['on', 'On'], ['off', 'Off']] },
    ], 'Add listener', done(pg, async (v) => {
      const p = Object.assign({ LoadBalancerId: id, Bandwidth: -1 }, v);
      delete p.Protocol;
      await call(V.SLB, 'CreateLoadBalancer' + v.Protocol.toUpperCase() + 'Listener', p);
      return 'Added listener ' + lbListener(v.Protocol, v.ListenerPort) + ' (stopped: start it to carry traffic).';
    }), pg.alert),
    el('h3', {}, 'Add backend server'), form('Add backend server', [
      { name: 'ServerId', label: 'Instance ID', required: true, list: 'inst-ids' },
      { name: 'Weight', label: 'Weight', value: '100', placeholder: '0-100' },
    ], 'Add backend server', done(pg, async (v) => {
      await call(V.SLB, 'AddBackendServers', { LoadBalancerId: id,
        BackendServers: JSON.stringify([{ ServerId: v.ServerId, Weight: v.Weight || '100', Type: 'ecs' }]) });
      return 'Added backend server ' + v.ServerId + '.';
    }), pg.alert),
    el('p', { class: 'muted' }, 'Health is unavailable while a listener is stopped, its health check off or the load balancer inactive; otherwise it is ' +
      'what the health checks of the load balancer\'s zone last found (abnormal until a check passes). A weight of 0 takes no new connections.'),
    tbl);
  await pg.load();
}

// ---------- Internet NAT gateways (VPC 2016-04-28) ----------

const freeEipOptions = (r) => list(r.EipAddresses && r.EipAddresses.EipAddress).filter((e) => !e.InstanceId)
  .map((e) => [e.AllocationId, e.IpAddress + (e.Name ? ' ' + e.Name : '')]);
function natEips(g) { return list(g.IpLists && g.IpLists.IpList); }
function natSnatTable(g) { return list(g.SnatTableIds && g.SnatTableIds.SnatTableId)[0] || ''; }
function natForwardTable(g) { return list(g.ForwardTableIds && g.ForwardTableIds.ForwardTableId)[0] || ''; }
function natPrivate(g) { return g.NatGatewayPrivateInfo || {}; }
// snatSource is an SNAT entry's source: its vSwitch and block, or the block.
function snatSource(e) { return e.SourceVSwitchId ? e.SourceVSwitchId + ' (' + e.SourceCIDR + ')' : e.SourceCIDR; }
function snatIps(e) { return String(e.SnatIp || '').split(',').join(', '); }
// forwardWhat is a forward entry as one line: "TCP 198.18.0.5:8080 → 10.0.1.7:80",
// "Any 198.18.0.5 → 10.0.1.8" for an IP mapping.
function forwardWhat(e) {
  if (e.IpProtocol === 'Any') return 'Any ' + e.ExternalIp + ' → ' + e.InternalIp;
  return e.IpProtocol + ' ' + e.ExternalIp + ':' + e.ExternalPort + ' → ' + e.InternalIp + ':' + e.InternalPort;
}
function lines(items) { return el('div', {}, items.map((s) => el('div', {}, s))); }

// natEntries reads the SNAT and forward entries of a gateway (its tables
// come from DescribeNatGateways).
async function natEntries(g) {
  const [s, f] = await Promise.all([
    call(V.VPC, 'DescribeSnatTableEntries', { SnatTableId: natSnatTable(g), PageSize: 50 }),
    call(V.VPC, 'DescribeForwardTableEntries', { ForwardTableId: natForwardTable(g), PageSize: 50 })]);
  return { snat: list(s.SnatTableEntries && s.SnatTableEntries.SnatTableEntry),
    forward: list(f.ForwardTableEntries && f.ForwardTableEntries.ForwardTableEntry) };
}

// natGateway reads one gateway of the account.
async function natGateway(id) {
  const r = await call(V.VPC, 'DescribeNatGateways', { NatGatewayId: id });
  const g = list(r.NatGateways && r.NatGateways.NatGateway).find((x) => x.NatGatewayId === id);
  if (!g) throw new ApiError(404, { Code: 'InvalidNatGatewayId.NotFound', Message: 'The specified NAT gateway ' + id + ' does not exist.' });
  return g;
}

// natFirewall names a gateway's NAT firewall (its policies are all of
// Direction out) in the NAT firewall actions (Cloudfw 2017-12-07).
function natFirewall(id) { return { NatGatewayId: id, Direction: 'out' }; }

const NAT_DELETE_ASK = 'Its SNAT and forward entries and its NAT firewall policies are deleted, its EIPs unassociated ' +
  '(they stay allocated) and the routes to it removed.';

async function viewNatGateways() {
  const pg = page('NAT gateways');
  const tbl = listing(pg, async () => {
    const r = await call(V.VPC, 'DescribeNatGateways', { PageSize: 50 });
    const gws = list(r.NatGateways && r.NatGateways.NatGateway);
    const entries = await Promise.all(gws.map(natEntries));
    const of = new Map(gws.map((g, i) => [g.NatGatewayId, entries[i]]));
    return table('NAT gateways (' + (r.TotalCount || 0) + ')', [
      ['NAT gateway ID', (g) => link('#/nat-gateways/' + encodeURIComponent(g.NatGatewayId), g.NatGatewayId)],
      ['Name', (g) => g.Name], ['VPC', (g) => g.VpcId],
      ['vSwitch and address', (g) => lines([natPrivate(g).VswitchId, natPrivate(g).PrivateIpAddress])],
      ['EIPs', (g) => lines(natEips(g).map((ip) => ip.IpAddress))],
      ['SNAT entries', (g) => lines(of.get(g.NatGatewayId).snat.map((e) => e.SourceCIDR + ' → ' + snatIps(e)))],
      ['Forward entries', (g) => lines(of.get(g.NatGatewayId).forward.map(forwardWhat))],
      ['Status', (g) => g.Status],
      ['', (g) => deleteButton(pg, 'NAT gateway', g.NatGatewayId, V.VPC, 'DeleteNatGateway', { NatGatewayId: g.NatGatewayId, Force: true },
        NAT_DELETE_ASK)],
    ], gws);
  });
  pg.body.append(await idList('vpc-ids', V.VPC, 'DescribeVpcs', vpcOptions),
    await idList('vsw-ids', V.VPC, 'DescribeVSwitches', vswOptions),
    el('h3', {}, 'Create NAT gateway'), form('Create NAT gateway', [
      { name: 'VpcId', label: 'VPC ID', required: true, list: 'vpc-ids' },
      { name: 'VSwitchId', label: 'vSwitch ID', required: true, list: 'vsw-ids' },
      { name: 'Name', label: 'NAT gateway name' },
      { name: 'Description', label: 'Description' },
      { name: 'IcmpReplyEnabled', label: 'Answer pings', type: 'select', options: [['true', 'Yes'], ['false', 'No']] },
      { name: 'IsCreateDefaultRoute', label: 'Default route', type: 'select',
        options: [['true', 'Add 0.0.0.0/0 to the gateway'], ['false', 'Do not add']] },
    ], 'Create NAT gateway', done(pg, async (v) => {
      const r = await call(V.VPC, 'CreateNatGateway', Object.assign({ NatType: 'Enhanced', NetworkType: 'internet' }, v));
      return 'Created NAT gateway ' + r.NatGatewayId + '.';
    }), pg.alert),
    el('p', { class: 'muted' }, 'An Internet NAT gateway takes an address of a vSwitch of its VPC and translates with the EIPs ' +
      'associated with it: SNAT entries give the instances of a vSwitch or CIDR block an EIP for their connections to the internet ' +
      '(those the VPC routes to the gateway), forward entries send an EIP\'s port (or, protocol Any, all of it) to a private address.'),
    tbl);
  await pg.load();
}

async function viewNatGateway(id) {
  const pg = page('NAT gateway ' + id);
  let gw = null; // the gateway as last loaded: its table IDs
  const current = async () => gw || natGateway(id);
  const tbl = listing(pg, async () => {
    const g = await natGateway(id);
    const [{ snat, forward }, nfw] = await Promise.all([natEntries(g),
      call(V.CFW, 'DescribeNatFirewallControlPolicy', Object.assign({ CurrentPage: 1, PageSize: 100 }, natFirewall(id)))]);
    gw = g;
    const p = natPrivate(g);
    return el('div', {}, el('p', {}, 'Name: ', g.Name || '', ' · VPC: ', g.VpcId || '', ' · vSwitch: ', p.VswitchId || '',
      ' · Zone: ', p.IzNo || '', ' · Private IP: ', p.PrivateIpAddress || '', ' · Status: ', g.Status || '',
      ' · Answers pings: ', yes(g.IcmpReplyEnabled)),
    el('datalist', { id: 'ngw-ips' }, natEips(g).map((ip) => el('option', { value: ip.IpAddress }, ip.AllocationId))),
    table('EIPs', [
      ['Allocation ID', (ip) => ip.AllocationId], ['IP address', (ip) => ip.IpAddress], ['Used by', (ip) => ip.UsingStatus],
      ['', (ip) => callButton(pg, { verb: 'Unassociate', kind: 'EIP', id: ip.AllocationId }, V.VPC, 'UnassociateEipAddress',
        { AllocationId: ip.AllocationId, InstanceId: id, InstanceType: 'Nat' })],
    ], natEips(g)),
    table('SNAT entries (table ' + natSnatTable(g) + ')', [
      ['Entry ID', (e) => e.SnatEntryId], ['Name', (e) => e.SnatEntryName], ['Source', snatSource], ['SNAT IPs', snatIps],
      ['Status', (e) => e.Status],
      ['', (e) => deleteButton(pg, 'SNAT entry', e.SnatEntryId, V.VPC, 'DeleteSnatEntry', { SnatTableId: natSnatTable(g), SnatEntryId: e.SnatEntryId })],
    ], snat),
    table('Forward entries (table ' + natForwardTable(g) + ')', [
      ['Entry ID', (e) => e.ForwardEntryId], ['Name', (e) => e.ForwardEntryName], ['Protocol', (e) => e.IpProtocol],
      ['External IP', (e) => e.ExternalIp], ['External port', (e) => e.ExternalPort],
      ['Internal IP', (e) => e.InternalIp], ['Internal port', (e) => e.InternalPort], ['Status', (e) => e.Status],
      ['', (e) => deleteButton(pg, 'forward entry', e.ForwardEntryId, V.VPC, 'DeleteForwardEntry',
        { ForwardTableId: natForwardTable(g), ForwardEntryId: e.ForwardEntryId })],
    ], forward),
    cfwPolicyTable(pg, 'NAT firewall policies (' + (nfw.TotalCount || 0) + '), in priority order', list(nfw.Policys), {
      modify: 'ModifyNatFirewallControlPolicy', remove: 'DeleteNatFirewallControlPolicy',
      move: 'ModifyNatFirewallControlPolicyPosition', total: Number(nfw.TotalCount || 0), params: () => natFirewall(id) }));
  });
  pg.body.append(el('p', {}, link('#/nat-gateways', '← All NAT gateways')),
    await idList('free-eip-ids', V.VPC, 'DescribeEipAddresses', freeEipOptions),
    await idList('vsw-ids', V.VPC, 'DescribeVSwitches', vswOptions),
    el('h3', {}, 'Associate EIP'), form('Associate EIP', [
      { name: 'AllocationId', label: 'Allocation ID', required: true, list: 'free-eip-ids', placeholder: 'eip-…' },
    ], 'Associate EIP', done(pg, async (v) => {
      await call(V.VPC, 'AssociateEipAddress', { AllocationId: v.AllocationId, InstanceId: id, InstanceType: 'Nat' });
      return 'Associated EIP ' + v.AllocationId + ' with ' + id + '.';
    }), pg.alert),
    el('h3', {}, 'Add SNAT entry'), form('Add SNAT entry', [
      { name: 'Source', label: 'Source', required: true, list: 'vsw-ids', placeholder: 'vsw-… or 10.0.2.0/24' },
      { name: 'SnatIp', label: 'SNAT IPs', required: true, list: 'ngw-ips', placeholder: 'EIP addresses, comma-separated' },
      { name: 'SnatEntryName', label: 'Entry name' },
    ], 'Add SNAT entry', done(pg, async (v) => {
      const p = { SnatTableId: natSnatTable(await current()), SnatIp: v.SnatIp, SnatEntryName: v.SnatEntryName };
      if (v.Source.startsWith('vsw-')) p.SourceVSwitchId = v.Source;
      else p.SourceCIDR = v.Source;
      const r = await call(V.VPC, 'CreateSnatEntry', p);
      return 'Added SNAT entry ' + r.SnatEntryId + ' (' + v.Source + ' → ' + v.SnatIp + ').';
    }), pg.alert),
    el('h3', {}, 'Add forward entry'), form('Add forward entry', [
      { name: 'IpProtocol', label: 'Protocol', type: 'select', options: [['TCP', 'TCP'], ['UDP', 'UDP'], ['Any', 'Any (IP mapping)']] },
      { name: 'ExternalIp', label: 'External IP', required: true, list: 'ngw-ips', placeholder: 'an EIP of the gateway' },
      { name: 'ExternalPort', label: 'External port', placeholder: '1-65535 (Any: leave empty)' },
      { name: 'InternalIp', label: 'Internal IP', required: true, placeholder: '10.0.1.7' },
      { name: 'InternalPort', label: 'Internal port', placeholder: '1-65535 (Any: leave empty)' },
      { name: 'ForwardEntryName', label: 'Entry name' },
    ], 'Add forward entry', done(pg, async (v) => {
      const p = Object.assign({ ForwardTableId: natForwardTable(await current()) }, v);
      if (v.IpProtocol === 'Any') {
        p.ExternalPort = v.ExternalPort || 'Any';
        p.InternalPort = v.InternalPort || 'Any';
      }
      const r = await call(V.VPC, 'CreateForwardEntry', p);
      return 'Added forward entry ' + r.ForwardEntryId + ' (' + forwardWhat(p) + ').';
    }), pg.alert),
    el('p', { class: 'muted' }, 'An SNAT entry\'s source is a vSwitch of the gateway\'s VPC or a CIDR block inside it; the most specific ' +
      'source wins, and an instance with an EIP of its own keeps it. A forward entry takes one port each side (TCP or UDP), or with ' +
      'protocol Any every port of its EIP, which then is no SNAT address. An EIP that an entry uses cannot be unassociated.'),
    el('h3', {}, 'Add NAT firewall policy'), cfwPolicyForm(pg, [], (v) => call(V.CFW, 'CreateNatFirewallControlPolicy',
      Object.assign(natFirewall(id), v)), { NewOrder: '-1' }),
    el('p', { class: 'muted' }, 'The gateway\'s NAT firewall judges the new connections it translates to the internet (SNAT entries ' +
      'and IP mappings) by the instance\'s private source address, before translation: the first policy that matches decides, ' +
      'and a connection that none matches is allowed. Order -1 adds the policy last.'),
    tbl);
  await pg.load();
}

const VFW_SWITCH = [['opened', 'Opened'], ['closed', 'Closed']];

async function viewVpcFirewalls() {
  const pg = page('VPC firewalls');
  const tbl = listing(pg, async () => {
    const r = await call(V.CFW, 'DescribeVpcFirewallList', { CurrentPage: 1, PageSize: 50 });
    return table('VPC firewalls (' + (r.TotalCount || 0) + ')', [
      ['Firewall ID', (f) => link('#/vpc-firewalls/' + encodeURIComponent(f.VpcFirewallId), f.VpcFirewallId)],
      ['Name', (f) => f.VpcFirewallName], ['Local VPC', (f) => f.LocalVpc && f.LocalVpc.VpcId],
      ['Peer VPC', (f) => f.PeerVpc && f.PeerVpc.VpcId], ['Peer account', (f) => account(f.PeerVpc && f.PeerVpc.OwnerId)],
      ['Switch', (f) => f.FirewallSwitchStatus], ['Bandwidth (Mbit/s)', (f) => f.Bandwidth],
      ['', (f) => el('span', { class: 'actions' },
        f.FirewallSwitchStatus === 'opened'
          ? callButton(pg, { verb: 'Close', kind: 'VPC firewall', id: f.VpcFirewallId }, V.CFW, 'ModifyVpcFirewallSwitchStatus',
            { VpcFirewallId: f.VpcFirewallId, FirewallSwitch: 'closed' })
          : callButton(pg, { verb: 'Open', past: 'Opened', kind: 'VPC firewall', id: f.VpcFirewallId }, V.CFW, 'ModifyVpcFirewallSwitchStatus',
            { VpcFirewallId: f.VpcFirewallId, FirewallSwitch: 'opened' }),
        deleteButton(pg, 'VPC firewall', f.VpcFirewallId, V.CFW, 'DeleteVpcFirewallConfigure', { 'VpcFirewallIdList.1': f.VpcFirewallId },
          'Its policies are deleted with it.'))],
    ], list(r.VpcFirewalls));
  });
  pg.body.append(await idList('vpc-ids', V.VPC, 'DescribeVpcs', vpcOptions),
    el('h3', {}, 'Create VPC firewall'), form('Create VPC firewall', [
      { name: 'VpcFirewallName', label: 'Firewall name', required: true },
      { name: 'LocalVpcId', label: 'Local VPC ID', required: true, list: 'vpc-ids' },
      { name: 'PeerVpcId', label: 'Peer VPC ID', required: true, list: 'vpc-ids' },
      { name: 'FirewallSwitch', label: 'Switch', type: 'select', options: VFW_SWITCH },
    ], 'Create VPC firewall', done(pg, async (v) => {
      const p = Object.assign({ LocalVpcRegion: state.who.RegionId, PeerVpcRegion: state.who.RegionId }, v);
      return 'Created VPC firewall ' + (await call(V.CFW, 'CreateVpcFirewallConfigure', p)).VpcFirewallId + '.';
    }), pg.alert),
    el('p', { class: 'muted' }, 'A VPC firewall filters the traffic of the Activated peering connection between its two VPCs ' +
      'with its control policies, while its switch is opened.'),
    tbl);
  await pg.load();
}

async function viewVpcFirewall(id) {
  const pg = page('VPC firewall ' + id);
  const tbl = listing(pg, async () => {
    const [l, r] = await Promise.all([call(V.CFW, 'DescribeVpcFirewallList', { VpcFirewallId: id, CurrentPage: 1, PageSize: 1 }),
      call(V.CFW, 'DescribeVpcFirewallControlPolicy', { VpcFirewallId: id, CurrentPage: 1, PageSize: 100 })]);
    const f = list(l.VpcFirewalls)[0] || {};
    return el('div', {}, el('p', {}, 'Name: ', f.VpcFirewallName || '', ' · Local VPC: ', (f.LocalVpc && f.LocalVpc.VpcId) || '',
      ' · Peer VPC: ', (f.PeerVpc && f.PeerVpc.VpcId) || '', ' · Switch: ', f.FirewallSwitchStatus || ''),
    cfwPolicyTable(pg, 'Policies (' + (r.TotalCount || 0) + '), in priority order', list(r.Policys),
      { modify: 'ModifyVpcFirewallControlPolicy', remove: 'DeleteVpcFirewallControlPolicy', params: () => ({ VpcFirewallId: id }) }));
  });
  pg.body.append(el('p', {}, link('#/vpc-firewalls', '← All VPC firewalls')),
    el('h3', {}, 'Add policy'), cfwPolicyForm(pg, [], (v) => call(V.CFW, 'CreateVpcFirewallControlPolicy',
      Object.assign({ VpcFirewallId: id }, v))), tbl);
  await pg.load();
}

async function viewWaf() {
  const pg = page('WAF protection');
  const tbl = listing(pg, async () => {
    const [p, t] = await Promise.all([call(V.PALISADE, 'DescribeWafProtections'), call(V.PALISADE, 'DescribeWafTemplates')]);
    const prots = list(p.Protections && p.Protections.Protection);
    const tpls = list(t.Templates && t.Templates.Template);
    return el('div', {}, table('Protected objects (' + prots.length + ')', [
      ['Protection ID', (x) => x.ProtectionId], ['Instance', (x) => x.InstanceId], ['Port', (x) => x.Port],
      ['Protocol', (x) => x.Protocol], ['Upstream', (x) => x.UpstreamAddress], ['Template', (x) => x.TemplateId],
      ['Status', (x) => x.Status + (x.EipAddress ? ' (' + x.EipAddress + ')' : '')], ['Why', (x) => x.StatusReason],
      ['', (x) => deleteButton(pg, 'protected object', x.ProtectionId, V.PALISADE, 'DeleteWafProtection', { ProtectionId: x.ProtectionId },
        'Port ' + x.Port + ' of ' + x.InstanceId + ' is no longer filtered by the WAF.')],
    ], prots), table('Templates (' + tpls.length + ')', [
      ['Template ID', (x) => x.TemplateId], ['Name', (x) => x.Name], ['Mode', (x) => x.Mode],
      ['Paranoia level', (x) => x.ParanoiaLevel], ['Inbound threshold', (x) => x.InboundThreshold], ['Created', (x) => x.CreationTime],
      ['', (x) => deleteButton(pg, 'template', x.TemplateId, V.PALISADE, 'DeleteWafTemplate', { TemplateId: x.TemplateId })],
    ], tpls));
  });
  pg.body.append(await idList('inst-ids', V.ECS, 'DescribeInstances', instOptions, { PageSize: 100 }),
    el('h3', {}, 'Protect an instance port'), form('Protect an instance port', [
      { name: 'InstanceId', label: 'Instance ID', required: true, list: 'inst-ids' },
      { name: 'Port', label: 'Port', type: 'number', required: true, value: '80' },
      { name: 'TemplateId', label: 'Template ID', placeholder: 'the default rule set' },
      { name: 'UpstreamAddress', label: 'Upstream address', placeholder: 'the instance, same port' },
    ], 'Protect', done(pg, async (v) => {
      const r = await call(V.PALISADE, 'CreateWafProtection', v);
      return 'Protected port ' + v.Port + ' of ' + v.InstanceId + ' as ' + r.ProtectionId + ': ' + r.Status +
        (r.StatusReason ? ' (' + r.StatusReason + ')' : '') + '.';
    }), pg.alert),
    el('h3', {}, 'Create template'), form('Create template', [
      { name: 'Name', label: 'Template name' },
      { name: 'Mode', label: 'Mode', type: 'select', options: ['block', 'monitor', 'off'] },
      { name: 'ParanoiaLevel', label: 'Paranoia level', type: 'select', options: ['1', '2', '3', '4'] },
    ], 'Create template', done(pg, async (v) => 'Created template ' + (await call(V.PALISADE, 'CreateWafTemplate', v)).TemplateId + '.'),
    pg.alert), tbl);
  await pg.load();
}

async function viewAccessKeys() {
  const pg = page('Access keys');
  const mine = state.who.AccessKeyId;
  // The new key's secret, shown once: clearMessages hides it (class once).
  const secret = el('div', { class: 'secret once', hidden: true });
  secret.clear = () => { secret.replaceChildren(); secret.hidden = true; };
  const tbl = listing(pg, async () => {
    const r = await call(V.PALISADE, 'DescribeAccessKeys');
    return table('Access keys (' + (r.TotalCount || 0) + ')', [
      ['AccessKey ID', (k) => k.AccessKeyId], ['Account', (k) => k.AccountId], ['Created', (k) => k.CreationTime],
      ['Status', (k) => k.Status], ['Kind', (k) => k.AgentZoneId ? 'agent key (' + k.AgentZoneId + ')' : (k.Root ? 'root key' : 'full key')],
      ['This session', (k) => k.AccessKeyId === mine ? 'in use' : ''],
      ['', (k) => deleteButton(pg, 'access key', k.AccessKeyId, V.PALISADE, 'DeleteAccessKey', { UserAccessKeyId: k.AccessKeyId },
        k.AccessKeyId === mine ? 'This console session uses it: you will be logged out.' : 'Whatever uses it stops working at once.')],
    ], list(r.AccessKeys && r.AccessKeys.AccessKey));
  });
  pg.body.append(el('h3', {}, 'Create access key'), form('Create access key',
    state.who.Admin ? [{ name: 'AccountId', label: 'Account ID', placeholder: 'this account' }] : [],
    'Create access key', async (v) => {
      const r = await call(V.PALISADE, 'CreateAccessKey', v);
      secret.replaceChildren(el('strong', {}, 'Copy the secret now: it is not shown again.'),
        el('dl', {}, el('dt', {}, 'AccessKey ID'), el('dd', {}, el('code', { id: 'new-key-id' }, r.AccessKeyId)),
          el('dt', {}, 'AccessKey secret'), el('dd', {}, el('code', { id: 'new-key-secret' }, r.AccessKeySecret))));
      secret.hidden = false;
      await done(pg, async () => 'Created access key ' + r.AccessKeyId + '.')();
    }, pg.alert), secret, tbl);
  await pg.load();
}

// ---------- routing, login, logout ----------

const routes = [
  [/^\/vpcs$/, viewVpcs],
  [/^\/vswitches$/, viewVSwitches],
  [/^\/instances$/, viewInstances],
  [/^\/enis$/, viewENIs],
  [/^\/security-groups$/, viewSecurityGroups],
  [/^\/security-groups\/([^/]+)$/, (id) => viewSecurityGroup(decodeURIComponent(id))],
  [/^\/network-acls$/, viewACLs],
  [/^\/network-acls\/([^/]+)$/, (id) => viewACL(decodeURIComponent(id))],
  [/^\/eips$/, viewEIPs],
  [/^\/reach$/, viewReach],
  [/^\/matrix$/, viewMatrix],
  [/^\/what-if$/, viewWhatIf],
  [/^\/audit$/, viewAudit],
  [/^\/flow-logs$/, viewFlowLogs],
  [/^\/waf$/, viewWaf],
  [/^\/waf-rules$/, viewWafRules],
  [/^\/waf-logs$/, viewWafLogs],
  [/^\/ddos$/, viewDDoS],
  [/^\/firewall$/, viewFirewall],
  [/^\/firewall-assets$/, viewFirewallAssets],
  [/^\/address-books$/, viewAddressBooks],
  [/^\/peerings$/, viewPeerings],
  [/^\/route-tables$/, viewRouteTables],
  [/^\/route-tables\/([^/]+)$/, (id) => viewRouteTable(decodeURIComponent(id))],
  [/^\/vpc-firewalls$/, viewVpcFirewalls],
  [/^\/vpc-firewalls\/([^/]+)$/, (id) => viewVpcFirewall(decodeURIComponent(id))],
  [/^\/mirror-filters$/, viewMirrorFilters],
  [/^\/mirror-filters\/([^/]+)$/, (id) => viewMirrorFilter(decodeURIComponent(id))],
  [/^\/mirror-sessions$/, viewMirrorSessions],
  [/^\/endpoint-services$/, viewEndpointServices],
  [/^\/endpoint-services\/([^/]+)$/, (id) => viewEndpointService(decodeURIComponent(id))],
  [/^\/endpoints$/, viewEndpoints],
  [/^\/endpoints\/([^/]+)$/, (id) => viewEndpoint(decodeURIComponent(id))],
  [/^\/load-balancers$/, viewLoadBalancers],
  [/^\/load-balancers\/([^/]+)$/, (id) => viewLoadBalancer(decodeURIComponent(id))],
  [/^\/nat-gateways$/, viewNatGateways],
  [/^\/nat-gateways\/([^/]+)$/, (id) => viewNatGateway(decodeURIComponent(id))],
  [/^\/access-keys$/, viewAccessKeys],
];

async function route() {
  if (!state.who) return;
  const path = location.hash.replace(/^#/, '') || '/vpcs';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === '#' + path.split('/').slice(0, 2).join('/')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  for (const [re, view] of routes) {
    const m = path.match(re);
    if (m) {
      try { await view(...m.slice(1)); } catch (err) { page('Error').alert.show(err); }
      return;
    }
  }
  page('Not found').alert.show(new Error('No such page: ' + path));
}

function loggedIn(who) {
  state.who = who;
  state.csrf = who.CsrfToken;
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('logout').hidden = false;
  const w = $('whoami');
  w.textContent = 'Account ' + who.AccountName + ' (' + who.AccountId + ') · key ' + who.AccessKeyId + ' · region ' + who.RegionId;
  w.hidden = false;
  route();
}

// loggedOut shows the login form; reason (an error) is shown on it when
// the server ended the session (expired, or its AccessKey deleted).
function loggedOut(reason) {
  state.who = null;
  state.csrf = '';
  $('app-view').hidden = true;
  $('logout').hidden = true;
  $('whoami').hidden = true;
  $('main').replaceChildren();
  $('login-view').hidden = false;
  if (reason) $('login-alert').show(reason);
}

async function start() {
  const loginAlert = alertBox();
  loginAlert.id = 'login-alert';
  $('login-alert').replaceWith(loginAlert);
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    loginAlert.clear();
    const secret = $('login-secret');
    try {
      state.csrf = '';
      const who = await post('login', { AccessKeyId: $('login-id').value.trim(), AccessKeySecret: secret.value });
      secret.value = '';
      loggedIn(who);
    } catch (err) {
      loginAlert.show(err);
    }
  });
  $('logout').addEventListener('click', async () => {
    try { await post('logout', {}); } catch (_) { /* the session is gone either way */ }
    loggedOut();
  });
  window.addEventListener('hashchange', route);
  try {
    const resp = await fetch('session', { credentials: 'same-origin' });
    if (resp.ok) { loggedIn(await resp.json()); return; }
  } catch (_) { /* not logged in */ }
  loggedOut();
}

document.addEventListener('DOMContentLoaded', start);
