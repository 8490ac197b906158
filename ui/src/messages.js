// Reading LangChain messages as the API serialises them (state values and stream chunks).

export function textOf(content) {
  if (content == null) return ''
  if (typeof content === 'string') return content
  if (Array.isArray(content)) {
    return content
      .map((part) => (typeof part === 'string' ? part : part?.type === 'text' || part?.text ? part.text || '' : ''))
      .join('')
  }
  return String(content)
}

export function kindOf(message) {
  const type = String(message?.type || message?.role || '').toLowerCase()
  if (type.startsWith('human') || type === 'user') return 'human'
  if (type.startsWith('ai') || type === 'assistant') return 'ai'
  if (type.startsWith('tool')) return 'tool'
  if (type.startsWith('system')) return 'system'
  return type
}

// Interrupts the thread is paused on, from a state (top-level and per task), deduplicated by id.
export function pendingInterrupts(state) {
  const found = new Map()
  const sources = [...(state?.interrupts || [])]
  for (const task of state?.tasks || []) sources.push(...(task.interrupts || []))
  sources.forEach((item, index) => {
    const id = item?.id || item?.interrupt_id || String(index)
    if (!found.has(id)) found.set(id, { id, value: item?.value ?? item })
  })
  return [...found.values()]
}

// One reviewable action per pending tool call, whichever HITL mode the server uses:
// batched (`action_requests` + `review_configs`) or per call (`type: "tool_approval"`).
export function reviewItems(interrupts) {
  const items = []
  for (const interrupt of interrupts) {
    const value = interrupt.value || {}
    if (Array.isArray(value.action_requests)) {
      const configs = value.review_configs || []
      value.action_requests.forEach((action, index) => {
        const config = configs.find((c) => c.action_name === action.name) || configs[index] || {}
        items.push({
          key: `${interrupt.id}:${index}`,
          interruptId: interrupt.id,
          mode: 'batched',
          name: action.name,
          args: action.args || {},
          description: action.description || value.description || '',
          details: action.details || null,
          allowed: config.allowed_decisions || ['approve', 'edit', 'reject'],
        })
      })
    } else if (value.type === 'tool_approval') {
      const schema = interrupt.response_schema || value.response_schema || {}
      items.push({
        key: `${interrupt.id}:0`,
        interruptId: interrupt.id,
        mode: 'per_call',
        name: value.name,
        args: value.args || {},
        description: value.description || '',
        allowed: schema.allowed_decisions || value.allowed_decisions || ['approve', 'edit', 'reject', 'respond'],
      })
    }
  }
  return items
}

// The resume value for all decisions at once: one HITL response per interrupt,
// keyed by interrupt id when several interrupts are pending.
export function resumeValue(items, decisions, interrupts) {
  const perInterrupt = new Map()
  items.forEach((item) => {
    const decision = decisions[item.key]
    if (!perInterrupt.has(item.interruptId)) perInterrupt.set(item.interruptId, { mode: item.mode, decisions: [] })
    perInterrupt.get(item.interruptId).decisions.push(decision)
  })
  const valueOf = ({ mode, decisions: list }) => (mode === 'per_call' ? list[0] : { decisions: list })
  if (interrupts.length === 1 && perInterrupt.size === 1) return valueOf([...perInterrupt.values()][0])
  return Object.fromEntries([...perInterrupt.entries()].map(([id, entry]) => [id, valueOf(entry)]))
}

// What actually happened to a tool call, read from its result message:
// - a reviewer's `respond` or `reject` answered in place of the tool (HITL marks such a
//   message with additional_kwargs.lc_source = 'hitl_interrupt_decision'): nothing ran;
// - a reviewer's `edit` ran other arguments: HITL keeps the model's original call in the
//   AI message and prepends a note for the model to the result, naming the call that ran
//   ("Executed instead: NAME with arguments {json}."). The transcript shows that call and
//   the tool's own output without the note.
const EXECUTED_LINE = /Executed instead: (\S+) with arguments (.*)\.$/

export function outcomeOf(call, result) {
  const plain = { call, result, decision: null, edited: false }
  if (!result) return plain
  const extra = result.additional_kwargs || {}
  if (extra.lc_source === 'hitl_interrupt_decision') {
    const decision = extra.lc_data?.decision || (result.status === 'error' ? 'reject' : 'respond')
    return { ...plain, decision, answer: textOf(result.content) }
  }
  const text = textOf(result.content)
  const at = text.indexOf('Executed instead: ')
  if (at < 0) return plain
  const lineEnd = text.indexOf('\n', at)
  const match = text.slice(at, lineEnd < 0 ? undefined : lineEnd).match(EXECUTED_LINE)
  if (!match) return plain
  let args
  try {
    args = JSON.parse(match[2])
  } catch {
    return plain
  }
  const marker = 'Tool response:'
  const responseAt = text.indexOf(marker, at)
  const output = responseAt < 0 ? '' : text.slice(responseAt + marker.length).replace(/^\n/, '')
  return {
    ...plain,
    edited: true,
    call: { ...call, name: match[1], args },
    result: { ...result, content: output },
  }
}
