// The files the thread's last turn changed, read from the change records the server puts on the
// agent's write_file / edit_file results (`artifact.file_change`: path, unified diff, +/- counts).
// A turn is everything after the latest message the user sent, approvals and resumes included.
import { kindOf } from './messages.js'

// One spelling per path, as the panel lists it: no repeated or trailing slashes, no `.` parts.
export function normalPath(path) {
  const parts = String(path).split('/').filter((part) => part && part !== '.')
  return `/${parts.join('/')}`
}

// path -> [change record, ...] in the order the changes were made.
export function lastTurnChanges(messages) {
  let start = 0
  for (let i = messages.length - 1; i >= 0; i--) {
    if (kindOf(messages[i]) === 'human') {
      start = i + 1
      break
    }
  }
  const changes = new Map()
  for (const message of messages.slice(start)) {
    const record = kindOf(message) === 'tool' ? message.artifact?.file_change : null
    if (!record || typeof record.diff !== 'string' || typeof record.path !== 'string') continue
    const path = normalPath(record.path)
    changes.set(path, [...(changes.get(path) || []), record])
  }
  return changes
}

// Whether a folder holds a changed file, at any depth.
export function holdsChange(changes, folder) {
  const prefix = `${normalPath(folder)}/`
  for (const path of changes.keys()) if (path.startsWith(prefix)) return true
  return false
}

export function diffLineClass(line) {
  if (line.startsWith('+') && !line.startsWith('+++')) return 'diff-add'
  if (line.startsWith('-') && !line.startsWith('---')) return 'diff-del'
  return ''
}
