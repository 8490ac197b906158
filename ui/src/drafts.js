// Unsent messages, one per conversation ('' for a new one), kept in this tab's
// sessionStorage: an expired token, a sign-in or a reload never loses what was typed.
import { reactive, watch } from 'vue'

const KEY = 'deepagent.drafts'

function load() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) || '{}')
    return saved && typeof saved === 'object' ? saved : {}
  } catch {
    return {}
  }
}

export const drafts = reactive(load())

watch(drafts, () => {
  const kept = Object.fromEntries(Object.entries(drafts).filter(([, text]) => text))
  try {
    sessionStorage.setItem(KEY, JSON.stringify(kept))
  } catch {
    // Storage full or disabled: the draft still lives in memory until the tab closes.
  }
})

export const draftOf = (threadId) => drafts[threadId || ''] || ''

export function setDraft(threadId, text) {
  drafts[threadId || ''] = text
}
