"""macs.data.corpus"""
