// A subagent's own events, grouped under the `task` call that started it.
//
// Runs stream with `stream_subgraphs`, so what a subagent does arrives as events whose name
// carries a namespace ("messages|tools:<task id>|model:<id>"). The first part names the parent's
// tools-node task that runs the `task` tool. It does not carry the tool call's id, so each new
// namespace is given to the earliest `task` call of the transcript that has no result and no
// subagent yet: calls start their subagents in the order the model made them.
import { kindOf, textOf } from './messages.js'

const owners = new Map() // namespace -> task tool call id

// The `task` call a namespace belongs to, or null when no call is waiting for one.
function ownerOf(store, namespace) {
  if (owners.has(namespace)) return owners.get(namespace)
  const answered = new Set(store.messages.filter((m) => kindOf(m) === 'tool').map((m) => m.tool_call_id))
  const taken = new Set(owners.values())
  for (const message of store.messages) {
    for (const call of message.tool_calls || []) {
      if (call.name === 'task' && call.id && !answered.has(call.id) && !taken.has(call.id)) {
        owners.set(namespace, call.id)
        return call.id
      }
    }
  }
  return null
}

function stepsOf(store, callId) {
  if (!store.subagents[callId]) store.subagents[callId] = []
  return store.subagents[callId]
}

function upsert(list, message) {
  const index = list.findIndex((m) => m.id && m.id === message.id)
  if (index >= 0) list.splice(index, 1, { ...list[index], ...message })
  else list.push(message)
}

function appendChunk(list, chunk) {
  if (!chunk?.id) return
  const index = list.findIndex((m) => m.id === chunk.id)
  const delta = textOf(chunk.content)
  if (index < 0) list.push({ type: 'ai', id: chunk.id, content: delta, tool_calls: [], streaming: true })
  else if (list[index].streaming) list.splice(index, 1, { ...list[index], content: textOf(list[index].content) + delta })
}

// Handles a namespaced `messages` or `updates` event; returns false when it is not one.
export function subagentEvent(store, name, namespace, data) {
  if (!namespace || (name !== 'messages' && name !== 'updates')) return false
  if (name === 'updates' && data && '__interrupt__' in data) return false // the parent shows approvals
  const callId = ownerOf(store, namespace)
  if (!callId) return true
  const list = stepsOf(store, callId)
  if (name === 'messages') {
    const [message] = Array.isArray(data) ? data : [data]
    const kind = kindOf(message)
    if (kind === 'ai' && String(message.type).endsWith('Chunk')) appendChunk(list, message)
    else if (kind === 'tool' || kind === 'ai') upsert(list, { ...message, streaming: false })
    return true
  }
  for (const update of Object.values(data || {})) {
    for (const message of update?.messages || []) {
      if (kindOf(message) !== 'human') upsert(list, { ...message, streaming: false })
    }
  }
  return true
}
