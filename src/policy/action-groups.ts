// The action groups a Cedar schema declares (`action "tools/call" in ["gateway"]`).
// The decision point evaluates without the schema, so a request must carry its
// action's place in them: an enforcement point names the action, Mandate adds the
// groups, as its own request builders do.
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';

/** Each action's direct groups, by action id (type `Action`, the schema's default namespace). */
export type ActionGroups = ReadonlyMap<string, readonly string[]>;

export function actionGroupsOf(schemaText: string): ActionGroups {
  const parsed = cedar.schemaToJson(schemaText);
  if (parsed.type === 'failure') throw new Error(`the schema does not parse: ${parsed.errors.map((e) => e.message).join('; ')}`);
  const actions = parsed.json['']?.actions ?? {};
  return new Map(Object.entries(actions).map(([id, action]) => [
    id,
    (action.memberOf ?? []).filter((group) => group.type === undefined || group.type === 'Action').map((group) => group.id),
  ]));
}
