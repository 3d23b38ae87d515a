// The record types the portal lists: their fields, filters and orders as the API names them. What
// a role is shown of them is decided by `me.permissions` and the role's schema, never here.

/**
 * Field kinds: text, int, date, datetime, money, mxState, usState, country, agency (code as is),
 * enum:<Type> (translated), nested:<entity> (a nested object).
 */
export const ENTITIES = {
  trace: {
    key: 'trace',
    list: 'traces',
    one: 'trace',
    stats: 'traceStats',
    filterType: 'TraceFilter',
    orderType: 'TraceOrder',
    fields: [
      { name: 'traceNumber', kind: 'text', column: true },
      { name: 'recoveryDate', kind: 'date', column: true },
      { name: 'recoveryState', kind: 'mxState', column: true },
      { name: 'recoveryMunicipality', kind: 'text' },
      { name: 'requestingAgency', kind: 'agency', column: true },
      { name: 'status', kind: 'enum:TraceStatus', column: true },
      { name: 'sourceClass', kind: 'enum:SourceClass', column: true },
      { name: 'purchaseState', kind: 'usState', column: true },
      { name: 'purchaseDate', kind: 'date' },
      { name: 'timeToCrimeDays', kind: 'int', column: true },
      { name: 'dealerLicense', kind: 'text' },
      { name: 'purchaserName', kind: 'text' },
      { name: 'firearm', kind: 'nested:firearm', column: true },
      { name: 'version', kind: 'int' },
    ],
    filters: [
      { name: 'year', type: 'intRange' },
      { name: 'recoveredBetween', type: 'dateRange' },
      { name: 'recoveryState', type: 'mxStates' },
      { name: 'sourceClass', type: 'enum', enum: 'SourceClass', values: ['US_MANUFACTURED', 'US_IMPORTED', 'FOREIGN', 'UNDETERMINED'] },
      { name: 'status', type: 'enum', enum: 'TraceStatus', values: ['PENDING', 'COMPLETED', 'NO_PURCHASER_IDENTIFIED', 'NOT_TRACEABLE'] },
      { name: 'firearmType', type: 'enum', enum: 'FirearmType', values: ['PISTOL', 'REVOLVER', 'RIFLE', 'SHOTGUN', 'MACHINE_GUN', 'OTHER'] },
      { name: 'purchaseState', type: 'usStates' },
      { name: 'serialNumber', type: 'text' },
    ],
    orders: ['RECOVERY_DATE', 'TRACE_NUMBER', 'TIME_TO_CRIME_DAYS'],
    defaultOrder: { field: 'RECOVERY_DATE', direction: 'DESC' },
    title: (row) => row.traceNumber,
  },
  seizure: {
    key: 'seizure',
    list: 'seizures',
    one: 'seizure',
    stats: 'seizureStats',
    filterType: 'SeizureFilter',
    orderType: 'SeizureOrder',
    fields: [
      { name: 'caseNumber', kind: 'text', column: true },
      { name: 'seizingAgency', kind: 'enum:Agency', column: true },
      { name: 'operation', kind: 'text' },
      { name: 'seizedOn', kind: 'date', column: true },
      { name: 'fiscalYear', kind: 'int', column: true, plain: true },
      { name: 'usState', kind: 'usState', column: true },
      { name: 'portOfEntry', kind: 'port', column: true },
      { name: 'direction', kind: 'enum:Direction', column: true },
      { name: 'concealmentMethod', kind: 'text' },
      { name: 'ammunitionRounds', kind: 'int' },
      { name: 'firearmCount', kind: 'int', column: true },
      { name: 'disposition', kind: 'enum:Disposition' },
      { name: 'version', kind: 'int' },
    ],
    filters: [
      { name: 'fiscalYear', type: 'intRange' },
      { name: 'seizedBetween', type: 'dateRange' },
      { name: 'seizingAgency', type: 'enum', enum: 'Agency', values: ['CBP', 'ICE'] },
      { name: 'direction', type: 'enum', enum: 'Direction', values: ['OUTBOUND', 'INBOUND', 'INTERIOR'] },
      { name: 'usState', type: 'usStates' },
      { name: 'portOfEntry', type: 'textList' },
      { name: 'operation', type: 'textList' },
    ],
    orders: ['SEIZED_ON', 'FIREARM_COUNT'],
    defaultOrder: { field: 'SEIZED_ON', direction: 'DESC' },
    title: (row) => row.caseNumber || row.id,
  },
  training: {
    key: 'training',
    list: 'trainings',
    one: 'training',
    stats: 'trainingStats',
    filterType: 'TrainingFilter',
    orderType: 'TrainingOrder',
    fields: [
      { name: 'course', kind: 'enum:CourseKind', column: true },
      { name: 'provider', kind: 'enum:Agency', column: true },
      { name: 'startDate', kind: 'date', column: true },
      { name: 'endDate', kind: 'date' },
      { name: 'fiscalYear', kind: 'int', column: true, plain: true },
      { name: 'mexicanAgency', kind: 'agency', column: true },
      { name: 'mexicanState', kind: 'mxState', column: true },
      { name: 'participants', kind: 'int', column: true },
      { name: 'etraceAccountsGranted', kind: 'int', column: true },
      { name: 'version', kind: 'int' },
    ],
    filters: [
      { name: 'fiscalYear', type: 'intRange' },
      { name: 'heldBetween', type: 'dateRange' },
      { name: 'course', type: 'enum', enum: 'CourseKind', values: ['ETRACE', 'FIREARMS_IDENTIFICATION', 'FORENSICS', 'CANINE', 'INSPECTION', 'OTHER'] },
      { name: 'provider', type: 'enum', enum: 'Agency', values: ['ATF', 'STATE'] },
      { name: 'mexicanState', type: 'mxStates' },
    ],
    orders: ['START_DATE', 'PARTICIPANTS'],
    defaultOrder: { field: 'START_DATE', direction: 'DESC' },
    title: (row) => row.id,
  },
  fundingAward: {
    key: 'fundingAward',
    list: 'fundingAwards',
    one: 'fundingAward',
    stats: 'fundingStats',
    filterType: 'FundingFilter',
    orderType: 'FundingOrder',
    fields: [
      { name: 'fiscalYear', kind: 'int', column: true, plain: true },
      { name: 'program', kind: 'text', column: true },
      { name: 'category', kind: 'enum:FundingCategory', column: true },
      { name: 'implementingAgency', kind: 'enum:Agency', column: true },
      { name: 'recipient', kind: 'text', column: true },
      { name: 'obligated', kind: 'money', column: true },
      { name: 'disbursed', kind: 'money', column: true },
      { name: 'description', kind: 'text' },
      { name: 'version', kind: 'int' },
    ],
    filters: [
      { name: 'fiscalYear', type: 'intRange' },
      { name: 'category', type: 'enum', enum: 'FundingCategory', values: ['FORENSICS_TRAINING', 'INSPECTION_EQUIPMENT', 'CANINES', 'ETRACE_OUTREACH', 'FIREARMS_IDENTIFICATION', 'OTHER'] },
      { name: 'implementingAgency', type: 'enum', enum: 'Agency', values: ['ATF', 'ICE', 'CBP', 'STATE'] },
      { name: 'program', type: 'textList' },
    ],
    orders: ['FISCAL_YEAR', 'OBLIGATED'],
    defaultOrder: { field: 'FISCAL_YEAR', direction: 'DESC' },
    title: (row) => row.program,
  },
  firearm: {
    key: 'firearm',
    list: 'firearms',
    one: 'firearm',
    stats: null,
    filterType: 'FirearmFilter',
    orderType: null,
    fields: [
      { name: 'manufacturer', kind: 'text', column: true },
      { name: 'model', kind: 'text', column: true },
      { name: 'type', kind: 'enum:FirearmType', column: true },
      { name: 'caliber', kind: 'text', column: true },
      { name: 'serialNumber', kind: 'text', column: true },
      { name: 'countryOfManufacture', kind: 'country', column: true },
      { name: 'importer', kind: 'text' },
    ],
    filters: [
      { name: 'manufacturer', type: 'textList' },
      { name: 'type', type: 'enum', enum: 'FirearmType', values: ['PISTOL', 'REVOLVER', 'RIFLE', 'SHOTGUN', 'MACHINE_GUN', 'OTHER'] },
      { name: 'caliber', type: 'textList' },
      { name: 'serialNumber', type: 'text' },
    ],
    orders: [],
    defaultOrder: null,
    title: (row) => `${row.manufacturer} ${row.model || ''}`.trim(),
  },
};

/** The entities that have sections of their own, in the navigation's order. */
export const SECTION_ENTITIES = ['trace', 'seizure', 'training', 'fundingAward', 'firearm'];

/** Row access values that give rows (as opposed to aggregates only or nothing). */
export const ROW_ACCESS = ['ALL', 'OWN', 'IMPLEMENTING', 'LINKED'];

/** The selection of an entity's scalar fields the role may read, for a GraphQL document. */
export function selection(entityKey, perms, { nested = true } = {}) {
  const def = ENTITIES[entityKey];
  const hidden = new Set((perms[entityKey] && perms[entityKey].hiddenFields) || []);
  const parts = ['id'];
  for (const f of def.fields) {
    if (hidden.has(f.name)) continue;
    if (f.kind.startsWith('nested:')) {
      if (!nested) continue;
      const inner = f.kind.slice(7);
      if (!readsRows(perms, inner)) continue;
      parts.push(`${f.name} { ${selection(inner, perms, { nested: false })} }`);
    } else {
      parts.push(f.name);
    }
  }
  parts.push('provenance { ownerAgency sourceSystem ingestedAt }');
  return parts.join(' ');
}

/** Whether the role reads rows of the entity (by its policy or a grant in force). */
export function readsRows(perms, entityKey) {
  const p = perms[entityKey];
  return Boolean(p && (p.readsRows ?? ROW_ACCESS.includes(p.rows)));
}
