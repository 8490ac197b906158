// Markdown with highlighted code, sanitised: model output is untrusted text.
import { Marked } from 'marked'
import DOMPurify from 'dompurify'
import hljs from 'highlight.js/lib/common'

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    code({ text, lang }) {
      const language = lang && hljs.getLanguage(lang) ? lang : null
      const html = language ? hljs.highlight(text, { language }).value : hljs.highlightAuto(text).value
      return `<pre class="code-block"><code class="hljs">${html}</code></pre>`
    },
  },
})

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank')
    node.setAttribute('rel', 'noopener noreferrer')
  }
})

export function renderMarkdown(text) {
  return DOMPurify.sanitize(marked.parse(text || ''), { FORBID_TAGS: ['style', 'form', 'input'], FORBID_ATTR: ['style'] })
}

export function highlight(code, language) {
  const html = language && hljs.getLanguage(language) ? hljs.highlight(code, { language }).value : hljs.highlightAuto(code).value
  return DOMPurify.sanitize(html)
}
