// Branches of a conversation, read from the thread's checkpoint history.
//
// Editing a past message starts a run from the checkpoint the message's own run started from
// (its "input" checkpoint's parent), so the thread's history becomes a tree: every run begins
// with an input checkpoint whose parent is where it was started. The runs that share a parent
// are the versions (branches) of the message they added; each one's newest descendant is what
// that branch shows.

const idOf = (state) => state?.checkpoint?.checkpoint_id || null
const parentOf = (state) => state?.parent_checkpoint?.checkpoint_id || null
const messageIds = (state) => new Set((state?.values?.messages || []).map((m) => m.id).filter(Boolean))

export function branchTree(history) {
  const byId = new Map()
  const children = new Map()
  for (const state of history || []) {
    const id = idOf(state)
    if (!id) continue
    byId.set(id, state)
    const parent = parentOf(state)
    if (!children.has(parent)) children.set(parent, [])
    children.get(parent).push(state)
  }
  const order = (a, b) => String(a.created_at).localeCompare(String(b.created_at))
  // The newest state under (and including) `state`: what its branch shows.
  function leafOf(state) {
    let best = state
    const stack = [state]
    while (stack.length) {
      const next = stack.pop()
      if (order(next, best) > 0) best = next
      stack.push(...(children.get(idOf(next)) || []))
    }
    return best
  }
  function contains(root, leaf) {
    for (let at = leaf; at; at = byId.get(parentOf(at))) if (idOf(at) === idOf(root)) return true
    return false
  }
  return { byId, children, order, leafOf, contains }
}

// For one human message shown from `shown` (a checkpoint of the tree): where an edit forks
// from, and the versions of this message with the one shown.
export function branchesOf(tree, messageId, shown) {
  const { byId, children, order, leafOf, contains } = tree
  // The first checkpoint on the shown line that holds the message: its run's input checkpoint is its parent.
  const line = []
  for (let at = shown; at; at = byId.get(parentOf(at))) line.push(at)
  const firstSeen = [...line].reverse().find((state) => messageIds(state).has(messageId))
  if (!firstSeen) return null
  const parent = byId.get(parentOf(firstSeen))
  const input = parent?.metadata?.source === 'input' ? parent : firstSeen
  const forkFrom = parentOf(input)
  if (!forkFrom) return null // the thread's first run: there is no checkpoint before it to start from
  const versions = (children.get(forkFrom) || []).filter((s) => s.metadata?.source === 'input').sort(order)
  const current = versions.findIndex((version) => contains(version, shown))
  return { forkFrom, versions: versions.map(leafOf), current }
}
